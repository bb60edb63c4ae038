"""Ingest: accept events and owe them to every matching webhook, in one transaction.

An event is acknowledged only after it and its deliveries are committed, so a
crash at any point loses nothing that was acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from hookd.config import Settings
from hookd.domain.filter import matches_filter
from hookd.domain.matching import is_event_type_name
from hookd.errors import Invalid
from hookd.metrics import DELIVERIES_CREATED, EVENTS_INGESTED
from hookd.store import Store
from hookd.store.records import FanoutTarget, NewEvent, Published


@dataclass(frozen=True, slots=True)
class EventIn:
    type: str
    data: dict[str, Any]
    idempotency_key: str | None = None


def choose(event: NewEvent, targets: Sequence[FanoutTarget]) -> list[str]:
    """Pick the subscribed webhooks whose filter accepts the event's data."""
    if all(t.filter is None for t in targets):
        return [t.webhook_id for t in targets]
    data = orjson.loads(event.data_json)
    return [t.webhook_id for t in targets if matches_filter(t.filter, data)]


class Ingest:
    """Publish events; single events from concurrent requests share a transaction.

    While one publishing transaction runs, the events that arrive queue up and
    the next transaction takes them all (a group commit). Nobody waits for a
    timer: at low load each event commits alone, at high load many commit
    together, and each caller is answered only after its own event committed.
    """

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._waiting: list[tuple[str, NewEvent, asyncio.Future[Published]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def publish(self, app_id: str, items: Sequence[EventIn]) -> list[Published]:
        """Validate and store events with their deliveries; returns one result per item."""
        new: list[NewEvent] = []
        for i, item in enumerate(items):
            where = f"[{i}]." if len(items) > 1 else ""
            if not is_event_type_name(item.type):
                raise Invalid(f"{where}type", f"{item.type!r} is not an event type (noun.verb)")
            if item.idempotency_key is not None and not (0 < len(item.idempotency_key) <= 256):
                raise Invalid(f"{where}id", "idempotency key must be 1 to 256 characters")
            new.append(NewEvent(item.type, orjson.dumps(item.data).decode(), item.idempotency_key))
        if len(new) == 1:
            return [await self._join(app_id, new[0])]
        return await self._commit(app_id, new)

    async def _join(self, app_id: str, event: NewEvent) -> Published:
        done: asyncio.Future[Published] = asyncio.get_running_loop().create_future()
        self._waiting.append((app_id, event, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting())
        return await done

    async def _commit_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            by_app: dict[str, list[tuple[NewEvent, asyncio.Future[Published]]]] = {}
            for app_id, event, done in group:
                by_app.setdefault(app_id, []).append((event, done))
            for app_id, entries in by_app.items():
                try:
                    results = await self._commit(app_id, [event for event, _ in entries])
                except Exception as exc:  # each waiting caller gets the error, none is lost
                    for _, done in entries:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for (_, done), result in zip(entries, results, strict=True):
                    if not done.done():
                        done.set_result(result)

    async def _commit(self, app_id: str, new: Sequence[NewEvent]) -> list[Published]:
        published = await self._store.events.publish(
            app_id,
            new,
            choose,
            now=time.time(),
            idempotency_window=self._settings.idempotency_hours * 3600,
        )
        fresh = [p for p in published if not p.duplicate]
        EVENTS_INGESTED.inc(len(fresh))
        DELIVERIES_CREATED.inc(sum(p.deliveries for p in fresh))
        return published
