"""Batches: the queued deliveries of a webhook in `mode=queued`, sent together.

    publish   a queued webhook's delivery of an event starts `queued`
    take      up to `batch_max_events` of them, in the webhook's `batch_order`,
              become ONE batch delivery (kind `batch`, `pending`), in one
              transaction: the batch row, its events in `batch_events` by
              position, and the carried deliveries marked with `batch_id`,
              status `sending` and parked (no worker ever claims them)
    claim     the worker claims a batch like any delivery; `claimed_batches`
              loads the events it carries
    settle    when the batch finishes, its carried deliveries take its outcome
              (`succeeded` or `failed`, with its last error)

An event is in exactly one batch: `take` picks and marks rows in one
statement, with `FOR UPDATE SKIP LOCKED` on PostgreSQL and `BEGIN IMMEDIATE`
on SQLite, and only takes rows still `queued`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hookd import ids
from hookd.domain.models import FINISHED, PARKED_AT, Delivery, DeliveryStatus, Webhook
from hookd.store import direct, rows
from hookd.store.engine import Engines
from hookd.store.notify import notify
from hookd.store.records import Claimed, StoredEvent
from hookd.store.tables import batch_events, deliveries, webhooks

__all__ = ["Batch", "BatchRepository", "FlushDue", "claimed_batches", "forget_webhook"]

BATCH_TYPE = "batch"  # the type a batch shows where one event's type would be
_QUEUED = DeliveryStatus.QUEUED.value
_FINISHED = sorted(s.value for s in FINISHED)


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch delivery just made, and the events it carries in the order sent."""

    id: str
    webhook_id: str
    event_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FlushDue:
    """A webhook whose scheduled flush has come round, as the scheduler saw it."""

    webhook_id: str
    mode: str
    batch_interval: float | None
    next_flush_at: float | None


class BatchRepository:
    def __init__(self, engines: Engines, on_commit: Callable[[], None]) -> None:
        self._db = engines
        self._on_commit = on_commit

    async def take(self, webhook_id: str, *, now: float, before: float) -> Batch | None:
        """Make one batch of the webhook's deliveries queued at or before `before`.

        Returns None when nothing is queued (or the webhook is gone). A
        disabled webhook's batch is parked like its other pending deliveries.
        """
        async with self._db.write.begin() as conn:
            # FOR SHARE: a concurrent disable waits for this batch, then parks it.
            webhook = (
                await conn.execute(
                    sa.select(
                        webhooks.c.app_id,
                        webhooks.c.enabled,
                        webhooks.c.batch_order,
                        webhooks.c.batch_max_events,
                    )
                    .where(webhooks.c.id == webhook_id)
                    .with_for_update(read=True)
                )
            ).first()
            if webhook is None:
                return None
            newest_first = webhook.batch_order == "reverse"
            order = (deliveries.c.created_at, deliveries.c.id)
            pick = (
                sa.select(deliveries.c.id)
                .where(
                    deliveries.c.webhook_id == webhook_id,
                    deliveries.c.status == _QUEUED,
                    deliveries.c.created_at <= before,
                )
                .order_by(*(c.desc() if newest_first else c.asc() for c in order))
                .limit(webhook.batch_max_events)
                .with_for_update(skip_locked=True, of=deliveries)
            )
            batch_id = ids.new_id("dlv", now)
            taken = (
                await conn.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_(pick.scalar_subquery()))
                    .values(
                        status=DeliveryStatus.SENDING.value,
                        batch_id=batch_id,
                        next_attempt_at=PARKED_AT,
                        updated_at=now,
                    )
                    .returning(deliveries.c.id, deliveries.c.event_id, deliveries.c.created_at)
                )
            ).all()
            if not taken:
                return None
            # RETURNING comes in no particular order; ids break ties in creation order.
            ordered = sorted(taken, key=lambda r: (r.created_at, r.id), reverse=newest_first)
            event_ids = tuple(r.event_id for r in ordered)
            await conn.execute(
                deliveries.insert().values(
                    id=batch_id,
                    app_id=webhook.app_id,
                    webhook_id=webhook_id,
                    event_id=None,
                    kind="batch",
                    batch_id=None,
                    status=DeliveryStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=now if webhook.enabled else PARKED_AT,
                    created_at=now,
                    updated_at=now,
                )
            )
            await conn.execute(
                batch_events.insert(),
                [
                    {"batch_id": batch_id, "position": i, "event_id": event_id}
                    for i, event_id in enumerate(event_ids)
                ],
            )
            if webhook.enabled:
                await notify(conn)
        if webhook.enabled:
            self._on_commit()
        return Batch(batch_id, webhook_id, event_ids)

    async def queued(
        self, *, app_id: str | None = None, webhook_id: str | None = None
    ) -> dict[str, int]:
        """Count the deliveries waiting for a flush, by webhook."""
        query = (
            sa.select(deliveries.c.webhook_id, sa.func.count())
            .where(deliveries.c.status == _QUEUED)
            .group_by(deliveries.c.webhook_id)
            .order_by(deliveries.c.webhook_id)
        )
        if app_id is not None:
            query = query.where(deliveries.c.app_id == app_id)
        if webhook_id is not None:
            query = query.where(deliveries.c.webhook_id == webhook_id)
        async with self._db.read.connect() as conn:
            return {w: int(n) for w, n in await conn.execute(query)}

    async def events(self, batch_id: str) -> list[StoredEvent]:
        """Return the events a batch carries, in the order it sends them."""
        async with self._db.read.connect() as conn:
            carried = await direct.run(conn, lambda tx: carried_events(tx, [batch_id]))
        return carried.get(batch_id, [])

    async def settle(self, batch_ids: Sequence[str], *, now: float) -> int:
        """Give the deliveries a finished batch carried the batch's outcome; count batches."""
        if not batch_ids:
            return 0
        async with self._db.write.begin() as conn:
            finished = (
                await conn.execute(
                    sa.select(
                        deliveries.c.id,
                        deliveries.c.status,
                        deliveries.c.last_error,
                        deliveries.c.last_status_code,
                    ).where(
                        deliveries.c.id.in_(sorted(set(batch_ids))),
                        deliveries.c.kind == "batch",
                        deliveries.c.status.in_(_FINISHED),
                    )
                )
            ).all()
            if not finished:
                return 0
            # By event id (indexed) rather than by batch_id (not indexed).
            carried = sa.select(batch_events.c.event_id).where(
                batch_events.c.batch_id == sa.bindparam("b_id")
            )
            await conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.event_id.in_(carried.scalar_subquery()),
                    deliveries.c.batch_id == sa.bindparam("b_id"),
                )
                .values(
                    status=sa.bindparam("b_status"),
                    last_error=sa.bindparam("b_error"),
                    last_status_code=sa.bindparam("b_code"),
                    updated_at=now,
                ),
                [
                    {
                        "b_id": f.id,
                        "b_status": f.status,
                        "b_error": f.last_error,
                        "b_code": f.last_status_code,
                    }
                    for f in finished
                ],
            )
        return len(finished)

    async def due(self, now: float) -> list[FlushDue]:
        """Return the enabled webhooks whose scheduled flush is due.

        A queued webhook with an interval and no time set yet (just created)
        is due at once; its first flush sets the next.
        """
        query = sa.select(
            webhooks.c.id, webhooks.c.mode, webhooks.c.batch_interval, webhooks.c.next_flush_at
        ).where(
            webhooks.c.enabled.is_(True),
            sa.or_(
                webhooks.c.next_flush_at <= now,
                sa.and_(
                    webhooks.c.mode == "queued",
                    webhooks.c.batch_interval.is_not(None),
                    webhooks.c.next_flush_at.is_(None),
                ),
            ),
        )
        async with self._db.read.connect() as conn:
            return [FlushDue(*row) for row in await conn.execute(query)]

    async def book(self, due: FlushDue, next_flush_at: float | None) -> bool:
        """Move a due flush to `next_flush_at`; False if another process got there first."""
        seen = (
            webhooks.c.next_flush_at.is_(None)
            if due.next_flush_at is None
            else webhooks.c.next_flush_at == due.next_flush_at
        )
        async with self._db.write.begin() as conn:
            result = await conn.execute(
                webhooks.update()
                .where(webhooks.c.id == due.webhook_id, seen)
                .values(next_flush_at=next_flush_at)
            )
        return result.rowcount > 0


def claimed_batches(
    claimed: Sequence[Delivery],
    claim_token: str,
    found_webhooks: Mapping[str, Webhook],
    carried: Mapping[str, Sequence[StoredEvent]],
) -> list[Claimed]:
    """Return the batches among freshly claimed deliveries, with the events they carry."""
    return [
        Claimed(
            d,
            claim_token,
            StoredEvent(d.id, d.app_id, BATCH_TYPE, "{}", d.created_at, True),
            found_webhooks[d.webhook_id],
            tuple(carried.get(d.id, ())),
        )
        for d in claimed
        if d.kind == "batch" and d.webhook_id in found_webhooks
    ]


_CARRIED = (
    "SELECT batch_events.batch_id, "  # noqa: S608 (names only)
    + ", ".join(f"events.{c.strip()}" for c in rows.EVENT_COLUMNS.split(","))
    + " FROM batch_events JOIN events ON events.id = batch_events.event_id"
    " WHERE batch_events.batch_id"
)


def carried_events(tx: direct.Tx, batch_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
    """Return the events each of these batches carries, in their order (inside a claim)."""
    if not batch_ids:
        return {}
    among, params = tx.among(batch_ids)
    out: dict[str, list[StoredEvent]] = {}
    for batch_id, *event in tx.rows(
        f"{_CARRIED}{among} ORDER BY batch_events.batch_id, batch_events.position", params
    ):
        out.setdefault(batch_id, []).append(rows.event_from_tuple(tuple(event)))
    return out


async def forget_webhook(conn: AsyncConnection, webhook_id: str) -> None:
    """Delete what the webhook's batches list, inside the transaction deleting the webhook."""
    theirs = sa.select(deliveries.c.id).where(
        deliveries.c.webhook_id == webhook_id, deliveries.c.kind == "batch"
    )
    await conn.execute(batch_events.delete().where(batch_events.c.batch_id.in_(theirs)))
