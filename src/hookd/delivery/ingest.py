"""Ingest: accept events and owe them to every matching webhook, in one transaction.

An event is acknowledged only after it and its deliveries are committed, so a
crash at any point loses nothing that was acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from hookd import telemetry
from hookd.config import Settings
from hookd.domain import jsonlimits
from hookd.domain.filter import matches_filter
from hookd.domain.matching import is_event_type_name
from hookd.domain.models import IDEMPOTENCY_KEY_MAX
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
    data = jsonlimits.loads(event.data_json)
    return [t.webhook_id for t in targets if matches_filter(t.filter, data)]


# Events one group commit takes at most (a batch call bigger than this commits alone).
GROUP_EVENTS = 2000
# Group commits running at once: SQLite has one writer; on PostgreSQL several
# transactions overlap their round trips with the event loop's work on the next.
COMMITTERS = {"sqlite": 1, "postgresql": 4}


class Ingest:
    """Publish events; publishes from concurrent requests share a transaction.

    While one publishing transaction runs, the calls that arrive queue up and
    the next transaction takes them all, single events and batches alike (a
    group commit), up to GROUP_EVENTS events. Nobody waits for a timer: at low
    load each call commits alone, at high load many commit together, and each
    caller is answered only after its own events committed. If a transaction
    fails, every call in it gets the error; none is acknowledged. On
    PostgreSQL up to COMMITTERS transactions run at once (an idempotency key
    published by two of them at once is settled by the unique constraint: the
    loser runs again and answers with the winner's event, store/direct.py).
    """

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._waiting: list[_Call] = []
        self._committers: set[asyncio.Task[None]] = set()
        self._most = COMMITTERS.get(store.dialect, 1)

    async def publish(self, app_id: str, items: Sequence[EventIn]) -> list[Published]:
        """Validate and store events with their deliveries; returns one result per item."""
        new: list[NewEvent] = []
        for i, item in enumerate(items):
            where = f"[{i}]." if len(items) > 1 else ""
            if not is_event_type_name(item.type):
                raise Invalid(f"{where}type", f"{item.type!r} is not an event type (noun.verb)")
            key = item.idempotency_key
            if key is not None and not (0 < len(key) <= IDEMPOTENCY_KEY_MAX):
                raise Invalid(
                    f"{where}id", f"idempotency key must be 1 to {IDEMPOTENCY_KEY_MAX} characters"
                )
            found = jsonlimits.problem(item.data, big_ints=True)
            if found is not None:  # the API refused it already; other callers may not have
                raise Invalid(jsonlimits.within(f"{where}data", found[0]), found[1])
            data_json = jsonlimits.dumps(item.data)  # integers of any size, exactly
            new.append(NewEvent(item.type, data_json, item.idempotency_key))
        if telemetry.ON:
            return await telemetry.traced_publish(app_id, new, partial(self._store_them, app_id))
        return await self._store_them(app_id, new)

    async def _store_them(self, app_id: str, new: Sequence[NewEvent]) -> list[Published]:
        """Join the next group commit; return once these events are committed."""
        call = _Call(app_id, list(new), asyncio.get_running_loop().create_future())
        self._waiting.append(call)
        # A committer that found nothing left is done at once, before any done
        # callback would run: count only the ones still going.
        self._committers = {c for c in self._committers if not c.done()}
        if len(self._committers) < self._most:
            self._committers.add(asyncio.create_task(self._commit_waiting()))
        return await call.done

    async def _commit_waiting(self) -> None:
        while self._waiting:
            group = self._take_group()
            try:
                results = await self._commit(group[0].app_id, [e for c in group for e in c.new])
            except Exception as exc:  # each waiting caller gets the error, none is lost
                for call in group:
                    if not call.done.done():
                        call.done.set_exception(exc)
                continue
            start = 0
            for call in group:
                end = start + len(call.new)
                if not call.done.done():
                    call.done.set_result(results[start:end])
                start = end

    def _take_group(self) -> list[_Call]:
        """Take the oldest waiting call and those of its app after it, up to GROUP_EVENTS."""
        first, *rest = self._waiting
        group, left, size = [first], [], len(first.new)
        for call in rest:
            if call.app_id == first.app_id and size + len(call.new) <= GROUP_EVENTS:
                group.append(call)
                size += len(call.new)
            else:
                left.append(call)
        self._waiting = left
        return group

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


@dataclass(frozen=True, slots=True)
class _Call:
    """One publish call waiting for its turn in a group commit."""

    app_id: str
    new: list[NewEvent]
    done: asyncio.Future[list[Published]]
