"""Recovery: send a window of a webhook's failed deliveries again; cancel one delivery."""

from __future__ import annotations

import time
from collections.abc import Callable

from hookd.domain.models import App, DeliveryStatus
from hookd.errors import Conflict, Invalid, NotFound
from hookd.store import Store
from hookd.store.records import DeliveryDetail

__all__ = ["RecoveryService", "Window"]

CHUNK = 500  # deliveries re-queued per transaction


class Window:
    """A window of creation times, [since, until), with until no later than now."""

    def __init__(self, since: float, until: float | None, *, now: float) -> None:
        self.since = since
        self.until = now if until is None else min(until, now)
        if self.since >= self.until:
            field = "since" if until is None else "until"
            raise Invalid(field, "the window is empty: since must be before until (and now)")


class RecoveryService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def count(self, app: App, webhook_id: str, window: Window) -> int:
        """Count the failed deliveries a recovery of `window` would send again."""
        await self._webhook(app, webhook_id)
        return await self._store.recovery.count(webhook_id, since=window.since, until=window.until)

    async def recover(
        self,
        app: App,
        webhook_id: str,
        window: Window,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Make the webhook's failed deliveries created in `window` pending; return how many.

        A disabled webhook's recovered deliveries wait (parked) until it is enabled.
        """
        await self._webhook(app, webhook_id)
        total = 0
        after: str | None = None
        while True:
            chunk = await self._store.recovery.requeue(
                webhook_id,
                since=window.since,
                until=window.until,
                now=time.time(),
                after=after,
                limit=CHUNK,
            )
            if chunk.last_id is None:
                break
            total += chunk.count
            after = chunk.last_id
            if progress is not None:
                progress(chunk.count)
        if total:
            self._store.wakeup.set()
        return total

    async def cancel(self, app: App, delivery_id: str) -> DeliveryDetail:
        """Cancel a pending or queued delivery; Conflict when it is sending or finished."""
        found = await self._store.deliveries.get(app.id, delivery_id)
        if found is None:
            raise NotFound(f"delivery {delivery_id!r} not found")
        if not await self._store.recovery.cancel(app.id, delivery_id, now=time.time()):
            now = await self._store.deliveries.get(app.id, delivery_id)
            status = now.delivery.status if now is not None else found.delivery.status
            if status is DeliveryStatus.SENDING:
                raise Conflict("the delivery is being sent right now; it cannot be cancelled")
            raise Conflict(
                f"the delivery is {status.value}; only pending or queued deliveries can be"
                " cancelled"
            )
        if found.delivery.kind == "batch":
            # The events it carries end as it did.
            await self._store.batches.settle([delivery_id], now=time.time())
        after = await self._store.deliveries.get(app.id, delivery_id)
        assert after is not None
        return after

    async def _webhook(self, app: App, webhook_id: str) -> None:
        if await self._store.webhooks.get(app.id, webhook_id) is None:
            raise NotFound(f"webhook {webhook_id!r} not found")
