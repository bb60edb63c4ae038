"""Events, and fan-out: an event and its deliveries are written in one transaction."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from hookd import ids
from hookd.domain.matching import patterns_matching
from hookd.domain.models import DeliveryStatus, Webhook
from hookd.store import direct, rows
from hookd.store.engine import Engines
from hookd.store.notify import notify_in
from hookd.store.records import Claimed, FanoutTarget, NewEvent, Published, StoredEvent
from hookd.store.tables import deliveries, events

# Chooses, for one event, which of the subscribed webhooks get a delivery.
Chooser = Callable[[NewEvent, Sequence[FanoutTarget]], Sequence[str]]


class EventRepository:
    def __init__(self, engines: Engines, on_commit: Callable[[], None]) -> None:
        self._db = engines
        self._on_commit = on_commit

    async def publish(
        self,
        app_id: str,
        new: Sequence[NewEvent],
        choose: Chooser,
        *,
        now: float,
        idempotency_window: float,
        status: DeliveryStatus = DeliveryStatus.PENDING,
    ) -> list[Published]:
        """Store events and their deliveries atomically; repeat keys return the original.

        Which webhooks are subscribed is read in the same transaction as the
        inserts, all in one `direct.transaction`: on SQLite the write lock is
        held for the statements only.
        """
        plan = _Plan(app_id, new, choose, now, now - idempotency_window, status)
        out, owed = await direct.transaction(self._db.write, plan.write)
        if owed:
            self._on_commit()
        return out

    async def publish_to(
        self, webhook: Webhook, new: NewEvent, *, now: float, lease_seconds: float
    ) -> Claimed:
        """Store an event owed to one webhook only, leased for sending at once (test sends)."""
        stored = StoredEvent(
            id=ids.new_id("evt", now),
            app_id=webhook.app_id,
            type=new.type,
            data_json=new.data_json,
            timestamp=now,
            live=new.live,
        )
        row = _delivery_row(webhook.app_id, webhook.id, stored.id, now, DeliveryStatus.SENDING)
        row["claim_token"] = token = secrets.token_hex(8)
        row["next_attempt_at"] = now + lease_seconds
        async with self._db.write.begin() as conn:
            await conn.execute(
                events.insert().values(
                    id=stored.id,
                    app_id=stored.app_id,
                    type=stored.type,
                    data=stored.data_json,
                    timestamp=now,
                    live=stored.live,
                    created_at=now,
                )
            )
            await conn.execute(deliveries.insert().values(**row))
        return Claimed(rows.delivery_from_values(row), token, stored, webhook)

    async def get(self, app_id: str, event_id: str) -> StoredEvent | None:
        query = sa.select(events).where(events.c.app_id == app_id, events.c.id == event_id)
        async with self._db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        return rows.event(row) if row else None


QUEUED = DeliveryStatus.QUEUED.value
PENDING = DeliveryStatus.PENDING.value
_INSERT_EVENT = direct.bulk_insert(
    events,
    ("id", "app_id", "type", "data", "timestamp", "live", "idempotency_key", "created_at"),
)
_INSERT_DELIVERY = direct.bulk_insert(
    deliveries,
    (
        "id",
        "app_id",
        "webhook_id",
        "event_id",
        "status",
        "next_attempt_at",
        "created_at",
        "updated_at",
    ),
)


_TARGETS = (
    "SELECT webhook_events.pattern, webhooks.id, webhooks.filter, webhooks.mode"
    " FROM webhook_events JOIN webhooks ON webhooks.id = webhook_events.webhook_id"
    " WHERE webhook_events.app_id = ? AND webhooks.enabled = ? AND webhook_events.pattern"
)


@dataclass(frozen=True, slots=True)
class _Plan:
    """One publish call's events, written by `write` inside the caller's transaction."""

    app_id: str
    new: Sequence[NewEvent]
    choose: Chooser
    now: float
    keys_since: float  # idempotency keys used before this are free again
    status: DeliveryStatus

    def write(self, tx: direct.Tx) -> tuple[list[Published], int]:
        """Insert the events and their deliveries; return the results and how many are owed."""
        app_id, now = self.app_id, self.now
        earlier = _earlier(tx, app_id, self.new, self.keys_since)
        targets = _targets(tx, app_id, {e.type for e in self.new})
        # A queued webhook's deliveries wait for a batch flush (store/batches.py).
        queued = {t.webhook_id for ts in targets.values() for t in ts if t.mode == "queued"}
        pending_state = self.status is DeliveryStatus.PENDING
        out: list[Published] = []
        event_rows: list[tuple[Any, ...]] = []
        owed: list[tuple[str, str, str]] = []  # (webhook id, event id, state)
        seen: dict[str, Published] = {}
        event_ids = iter(ids.new_ids("evt", len(self.new), now))
        for item in self.new:
            key = item.idempotency_key
            if key and key in seen:
                out.append(Published(seen[key].event, seen[key].deliveries, True))
                continue
            if key and key in earlier:
                out.append(earlier[key])
                continue
            stored = StoredEvent(
                next(event_ids), app_id, item.type, item.data_json, now, item.live, key
            )
            event_rows.append(
                (stored.id, app_id, item.type, item.data_json, now, item.live, key, now)
            )
            subscribed = targets.get(item.type)
            chosen = self.choose(item, subscribed) if subscribed else ()
            for webhook_id in chosen:
                waits = pending_state and webhook_id in queued
                owed.append((webhook_id, stored.id, QUEUED if waits else self.status.value))
            published = Published(stored, len(chosen), False)
            if key:
                seen[key] = published
            out.append(published)
        delivery_ids = ids.new_ids("dlv", len(owed), now) if owed else []
        tx.each(_INSERT_EVENT, event_rows)
        tx.each(
            _INSERT_DELIVERY,
            [
                (delivery_id, app_id, webhook_id, event_id, state, now, now, now)
                for delivery_id, (webhook_id, event_id, state) in zip(
                    delivery_ids, owed, strict=True
                )
            ],
        )
        if any(state == PENDING for _, _, state in owed):
            notify_in(tx)  # wakes workers in other processes at COMMIT
        return out, len(owed)


def _earlier(
    tx: direct.Tx, app_id: str, new: Sequence[NewEvent], since: float
) -> dict[str, Published]:
    """Return what earlier events with these idempotency keys published; free stale keys."""
    keys = sorted({e.idempotency_key for e in new if e.idempotency_key})
    if not keys:
        return {}
    among, params = tx.among(keys)
    found: dict[str, Published] = {}
    stale: list[str] = []
    for *event_row, created_at in tx.rows(
        f"SELECT {rows.EVENT_COLUMNS}, created_at FROM events"  # noqa: S608
        f" WHERE app_id = ? AND idempotency_key{among}",
        (app_id, *params),
    ):
        event = rows.event_from_tuple(tuple(event_row))
        key = event.idempotency_key
        assert key is not None
        if created_at < since:
            stale.append(key)
            continue
        [(count,)] = tx.rows("SELECT count(*) FROM deliveries WHERE event_id = ?", (event.id,))
        found[key] = Published(event, count, True)
    if stale:
        # The window has passed: the key may be used again.
        among, params = tx.among(stale)
        tx.count(
            f"UPDATE events SET idempotency_key = NULL WHERE app_id = ? AND idempotency_key{among}",  # noqa: S608
            (app_id, *params),
        )
    return found


def _targets(tx: direct.Tx, app_id: str, types: set[str]) -> dict[str, list[FanoutTarget]]:
    """Return, by event type, the enabled webhooks subscribed to it (by id)."""
    wanted: dict[str, list[str]] = {}
    for event_type in types:
        for pattern in patterns_matching(event_type):
            wanted.setdefault(pattern, []).append(event_type)
    among, params = tx.among(sorted(wanted))
    by_type: dict[str, dict[str, FanoutTarget]] = {}
    for pattern, webhook_id, filter_json, mode in tx.rows(
        _TARGETS + among, (app_id, True, *params)
    ):
        target = FanoutTarget(webhook_id, orjson.loads(filter_json) if filter_json else None, mode)
        for event_type in wanted[pattern]:
            by_type.setdefault(event_type, {})[webhook_id] = target
    return {t: sorted(found.values(), key=lambda x: x.webhook_id) for t, found in by_type.items()}


def _delivery_row(
    app_id: str, webhook_id: str, event_id: str, now: float, status: DeliveryStatus
) -> dict[str, Any]:
    return {
        "id": ids.new_id("dlv", now),
        "app_id": app_id,
        "webhook_id": webhook_id,
        "event_id": event_id,
        "status": status.value,
        "attempts": 0,
        "next_attempt_at": now,
        "claim_token": None,
        "last_error": None,
        "last_status_code": None,
        "created_at": now,
        "updated_at": now,
    }
