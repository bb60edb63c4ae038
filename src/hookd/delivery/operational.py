"""Publish incidents as operational events, once the transaction that saw them commits.

    recorder (attempts recorded) ──incidents──┐
    store.webhooks (enabled again) ───────────┴─▶ OperationalEvents.put ─▶ queue
    queue ─▶ publish through the store's normal path: fan-out, filters, queued mode

An event about webhook W goes to every subscribed webhook except W. Its
idempotency key (`hookd:…`, domain/operational.py) marks it operational, so
its own deliveries raise no incidents, and makes a publish retried after an
error land once. If the process dies between the commit and the publish, the
operational event is lost; the e-mail notification, written in the same
transaction as the failure, is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from hookd.config import Settings
from hookd.delivery.ingest import choose
from hookd.domain import operational
from hookd.domain.models import Webhook
from hookd.metrics import DELIVERIES_CREATED, EVENTS_INGESTED, OPERATIONAL_EVENTS
from hookd.store import Store
from hookd.store.health import Incident
from hookd.store.records import FanoutTarget, NewEvent

__all__ = ["OperationalEvents", "event_data"]

log = logging.getLogger(__name__)

_TRIES = 5


class OperationalEvents:
    """Turn incidents into events in their webhook's app, in the background."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._window = settings.idempotency_hours * 3600
        self._queue: asyncio.Queue[Incident] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._typed_apps: set[str] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hookd-operational-events")

    async def stop(self, timeout: float = 5.0) -> None:
        """Publish what is queued (within `timeout`), then stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.drain()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if not self._queue.empty():
            log.warning("operational events: %d unpublished at shutdown", self._queue.qsize())

    async def drain(self) -> None:
        """Wait until everything queued so far is published (or given up)."""
        while not (self._queue.empty() and self._idle.is_set()):
            await self._idle.wait()
            await asyncio.sleep(0)

    def put(self, incidents: Iterable[Incident]) -> None:
        """Queue incidents for publishing; never blocks the caller."""
        for incident in incidents:
            self._idle.clear()
            self._queue.put_nowait(incident)

    def webhook_enabled(self, webhook: Webhook) -> None:
        """Queue `webhook.enabled` for a disabled webhook just enabled again."""
        now = time.time()
        self.put(
            [
                Incident(
                    operational.WEBHOOK_ENABLED,
                    app_id=webhook.app_id,
                    webhook_id=webhook.id,
                    webhook_name=webhook.name,
                    webhook_url=webhook.url,
                    at=now,
                    occasion=repr(now),
                )
            ]
        )

    async def publish(self, incident: Incident) -> int:
        """Publish one incident's event now; return how many deliveries it made."""
        app_id = incident.app_id
        if app_id not in self._typed_apps:
            await self._store.event_types.ensure(operational.catalogue(app_id, time.time()))
            self._typed_apps.add(app_id)
        subject = incident.delivery_id or incident.webhook_id
        event = NewEvent(
            incident.type,
            orjson.dumps(event_data(incident)).decode(),
            operational.idempotency_key(incident.type, subject, incident.occasion),
        )

        def others(item: NewEvent, targets: Sequence[FanoutTarget]) -> list[str]:
            # Never to the webhook it is about: a failing webhook cannot feed itself.
            return [w for w in choose(item, targets) if w != incident.webhook_id]

        [published] = await self._store.events.publish(
            app_id, [event], others, now=time.time(), idempotency_window=self._window
        )
        if not published.duplicate:
            EVENTS_INGESTED.inc()
            DELIVERIES_CREATED.inc(published.deliveries)
            OPERATIONAL_EVENTS.labels(incident.type).inc()
        return published.deliveries

    async def _run(self) -> None:
        while True:
            if self._queue.empty():
                self._idle.set()
            incident = await self._queue.get()
            for attempt in range(_TRIES):
                try:
                    await self.publish(incident)
                    break
                except Exception:
                    log.exception(
                        "operational events: publishing %s about %s failed (try %d of %d)",
                        incident.type,
                        incident.webhook_id,
                        attempt + 1,
                        _TRIES,
                    )
                    await asyncio.sleep(0.1 * 4**attempt)


def event_data(incident: Incident) -> dict[str, Any]:
    """Return the data of the operational event an incident becomes."""
    data: dict[str, Any] = {
        "webhook": {
            "id": incident.webhook_id,
            "name": incident.webhook_name,
            "url": shown_url(incident.webhook_url),
        }
    }
    if incident.type == operational.WEBHOOK_DISABLED:
        data["reason"] = incident.reason
        data["last_error"] = incident.error
        data["failure_streak"] = incident.attempts
    if incident.delivery_id is not None:
        data["delivery"] = {
            "id": incident.delivery_id,
            "event_id": incident.event_id,
            "event_type": incident.event_type,
            "attempts": incident.attempts,
            "last_error": incident.error,
            "last_status_code": incident.status_code,
        }
    return data


def shown_url(url: str) -> str:
    """Return `url` without user info, query or fragment: they may hold tokens."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
