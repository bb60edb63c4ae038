"""Events, and fan-out: an event and its deliveries are written in one transaction."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hookd import ids
from hookd.domain.matching import patterns_matching
from hookd.domain.models import DeliveryStatus, Webhook
from hookd.store import direct, rows
from hookd.store.engine import Engines
from hookd.store.notify import notify
from hookd.store.records import Claimed, FanoutTarget, NewEvent, Published, StoredEvent
from hookd.store.tables import deliveries, events, webhook_events, webhooks

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
        """Store events and their deliveries atomically; repeat keys return the original."""
        async with self._db.write.begin() as conn:
            earlier = await self._earlier(conn, app_id, new, now - idempotency_window)
            targets = await self._targets(conn, app_id, {e.type for e in new})
            # A queued webhook's deliveries wait for a batch flush (store/batches.py).
            queued = {t.webhook_id for ts in targets.values() for t in ts if t.mode == "queued"}
            out: list[Published] = []
            event_rows: list[tuple[Any, ...]] = []
            delivery_rows: list[tuple[Any, ...]] = []
            seen: dict[str, Published] = {}
            for item in new:
                key = item.idempotency_key
                if key and key in seen:
                    out.append(Published(seen[key].event, seen[key].deliveries, True))
                    continue
                if key and key in earlier:
                    out.append(earlier[key])
                    continue
                stored = StoredEvent(
                    id=ids.new_id("evt", now),
                    app_id=app_id,
                    type=item.type,
                    data_json=item.data_json,
                    timestamp=now,
                    live=item.live,
                    idempotency_key=key,
                )
                event_rows.append(
                    (stored.id, app_id, item.type, item.data_json, now, item.live, key, now)
                )
                chosen = choose(item, targets.get(item.type, ())) if targets.get(item.type) else ()
                for webhook_id in chosen:
                    waits = webhook_id in queued and status is DeliveryStatus.PENDING
                    state = QUEUED if waits else status.value
                    delivery_id = ids.new_id("dlv", now)
                    delivery_rows.append(
                        (delivery_id, app_id, webhook_id, stored.id, state, now, now, now)
                    )
                published = Published(stored, len(chosen), False)
                if key:
                    seen[key] = published
                out.append(published)
            await direct.run(conn, partial(_insert, event_rows, delivery_rows))
            if any(row[_STATE] == PENDING for row in delivery_rows):
                await notify(conn)
        if delivery_rows:
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

    async def _earlier(
        self, conn: AsyncConnection, app_id: str, new: Sequence[NewEvent], since: float
    ) -> dict[str, Published]:
        keys = sorted({e.idempotency_key for e in new if e.idempotency_key})
        if not keys:
            return {}
        query = sa.select(events).where(
            events.c.app_id == app_id, events.c.idempotency_key.in_(keys)
        )
        found: dict[str, Published] = {}
        stale: list[str] = []
        for row in await conn.execute(query):
            if row.created_at < since:
                stale.append(row.idempotency_key)
                continue
            count = (
                await conn.execute(
                    sa.select(sa.func.count()).where(deliveries.c.event_id == row.id)
                )
            ).scalar_one()
            found[row.idempotency_key] = Published(rows.event(row), count, True)
        if stale:
            # The window has passed: the key may be used again.
            await conn.execute(
                events.update()
                .where(events.c.app_id == app_id, events.c.idempotency_key.in_(stale))
                .values(idempotency_key=None)
            )
        return found

    async def _targets(
        self, conn: AsyncConnection, app_id: str, types: set[str]
    ) -> dict[str, list[FanoutTarget]]:
        wanted: dict[str, list[str]] = {}
        for event_type in types:
            for pattern in patterns_matching(event_type):
                wanted.setdefault(pattern, []).append(event_type)
        query = (
            sa.select(webhook_events.c.pattern, webhooks.c.id, webhooks.c.filter, webhooks.c.mode)
            .join(webhooks, webhooks.c.id == webhook_events.c.webhook_id)
            .where(
                webhook_events.c.app_id == app_id,
                webhook_events.c.pattern.in_(sorted(wanted)),
                webhooks.c.enabled.is_(True),
            )
        )
        by_type: dict[str, dict[str, FanoutTarget]] = {}
        for pattern, webhook_id, filter_json, mode in await conn.execute(query):
            target = FanoutTarget(
                webhook_id, orjson.loads(filter_json) if filter_json else None, mode
            )
            for event_type in wanted[pattern]:
                by_type.setdefault(event_type, {})[webhook_id] = target
        return {
            t: sorted(found.values(), key=lambda x: x.webhook_id) for t, found in by_type.items()
        }


QUEUED = DeliveryStatus.QUEUED.value
PENDING = DeliveryStatus.PENDING.value
_INSERT_EVENT = (
    "INSERT INTO events (id, app_id, type, data, timestamp, live, idempotency_key, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_DELIVERY = (
    "INSERT INTO deliveries (id, app_id, webhook_id, event_id, status, next_attempt_at,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_STATE = 4  # where a delivery row (as _INSERT_DELIVERY takes it) holds its status


def _insert(
    event_rows: Sequence[tuple[Any, ...]], delivery_rows: Sequence[tuple[Any, ...]], tx: direct.Tx
) -> None:
    """Write new events and their deliveries (columns left out take their defaults)."""
    tx.many(_INSERT_EVENT, event_rows)
    tx.many(_INSERT_DELIVERY, delivery_rows)


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
