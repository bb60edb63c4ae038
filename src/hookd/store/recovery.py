"""Recovery: send a webhook's failed deliveries again, and cancel what should not go.

    count     failed deliveries of a webhook created in a time window
    requeue   make them pending again, oldest first, a chunk per transaction
              (parked instead when the webhook is disabled; enabling sends them)
    cancel    pending or queued → cancelled; anything else is left as it is

Ids begin with their creation time (hookd.ids), so a window of creation times
is a range of the (webhook_id, id) index.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hookd import ids
from hookd.domain.models import PARKED_AT, DeliveryStatus
from hookd.store.engine import Engines
from hookd.store.notify import notify
from hookd.store.tables import deliveries, webhooks

__all__ = ["RecoveryRepository", "Requeued"]

_RANDOM_CHARS = 16  # the random part at the end of an id
_FAILED = DeliveryStatus.FAILED.value
_CANCELLABLE = (DeliveryStatus.PENDING.value, DeliveryStatus.QUEUED.value)


@dataclass(frozen=True, slots=True)
class Requeued:
    """One chunk of a recovery: how many were re-queued, and where to go on from."""

    count: int
    last_id: str | None  # None: nothing was left in the window


class RecoveryRepository:
    def __init__(self, engines: Engines) -> None:
        self._db = engines

    async def count(self, webhook_id: str, *, since: float, until: float) -> int:
        """Count the webhook's failed deliveries created in [since, until)."""
        query = sa.select(sa.func.count()).where(_in_window(webhook_id, since, until))
        async with self._db.read.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def requeue(
        self,
        webhook_id: str,
        *,
        since: float,
        until: float,
        now: float,
        after: str | None = None,
        limit: int = 500,
    ) -> Requeued:
        """Make up to `limit` failed deliveries of the window (ids after `after`) pending."""
        window = _in_window(webhook_id, since, until)
        if after is not None:
            window = sa.and_(window, deliveries.c.id > after)
        chosen = sa.select(deliveries.c.id).where(window).order_by(deliveries.c.id).limit(limit)
        async with self._db.write.begin() as conn:
            picked = list((await conn.execute(chosen)).scalars())
            if not picked:
                return Requeued(0, None)
            enabled = (
                await conn.execute(sa.select(webhooks.c.enabled).where(webhooks.c.id == webhook_id))
            ).scalar()
            result = await conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(picked), deliveries.c.status == _FAILED)
                .values(
                    status=DeliveryStatus.PENDING.value,
                    next_attempt_at=now if enabled else PARKED_AT,
                    claim_token=None,
                    updated_at=now,
                )
            )
            if enabled and result.rowcount:
                await notify(conn)
        return Requeued(result.rowcount, picked[-1])

    async def cancel(self, app_id: str, delivery_id: str, *, now: float) -> bool:
        """Cancel a pending or queued delivery; False when it is in any other state."""
        async with self._db.write.begin() as conn:
            result = await conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.app_id == app_id,
                    deliveries.c.id == delivery_id,
                    deliveries.c.status.in_(_CANCELLABLE),
                )
                .values(status=DeliveryStatus.CANCELLED.value, claim_token=None, updated_at=now)
            )
        return result.rowcount > 0


def _in_window(webhook_id: str, since: float, until: float) -> sa.ColumnElement[bool]:
    return sa.and_(
        deliveries.c.webhook_id == webhook_id,
        deliveries.c.id >= _lowest_id(since),
        deliveries.c.id < _lowest_id(until + 0.001),
        deliveries.c.created_at >= since,
        deliveries.c.created_at < until,
        deliveries.c.status == _FAILED,
        # An event sent in a batch is recovered with its batch, not alone.
        deliveries.c.batch_id.is_(None),
    )


def _lowest_id(at: float) -> str:
    """Return the smallest delivery id made at `at` (ids sort by creation time)."""
    made = ids.new_id("dlv", max(at, 0.0))
    return made[:-_RANDOM_CHARS] + "0" * _RANDOM_CHARS
