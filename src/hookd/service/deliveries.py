"""Deliveries: read them with their attempts, retry them, and send test events."""

from __future__ import annotations

import time
from dataclasses import replace

import orjson

from hookd.config import Settings
from hookd.delivery.attempt import attempt
from hookd.delivery.request import System
from hookd.delivery.sender import Sender
from hookd.domain.matching import is_pattern
from hookd.domain.models import App, Webhook
from hookd.domain.retry import RetryPolicy
from hookd.errors import Conflict, Invalid, NotFound
from hookd.service.event_types import DEFAULT_SAMPLE
from hookd.store import Store
from hookd.store.records import DeliveryDetail, NewEvent, Page

STATUSES = ("pending", "sending", "succeeded", "failed", "queued", "cancelled")


class DeliveryService:
    def __init__(self, store: Store, settings: Settings, sender: Sender) -> None:
        self._store = store
        self._settings = settings
        self._sender = sender
        self._policy = RetryPolicy(settings.retry_schedule, settings.retry_jitter)

    async def page(
        self,
        app: App,
        *,
        limit: int,
        before: str | None,
        webhook_id: str | None,
        event_id: str | None,
        status: str | None,
    ) -> Page:
        if status is not None and status not in STATUSES:
            raise Invalid("status", f"must be one of {', '.join(STATUSES)}")
        return await self._store.deliveries.page(
            app.id,
            limit=limit,
            before=before,
            webhook_id=webhook_id,
            event_id=event_id,
            status=status,
        )

    async def get(self, app: App, delivery_id: str) -> DeliveryDetail:
        """Return a delivery with its attempts (and, for a batch, the events it carries)."""
        found = await self._store.deliveries.get(app.id, delivery_id)
        if found is None:
            raise NotFound(f"delivery {delivery_id!r} not found")
        if found.delivery.kind == "batch":
            return replace(found, events=await self._store.batches.events(delivery_id))
        return found

    async def retry(self, app: App, delivery_id: str) -> DeliveryDetail:
        """Make a delivery due now; the worker sends it."""
        current = await self.get(app, delivery_id)
        if current.delivery.batch_id is not None:
            # Sending the event alone as well would deliver it twice.
            raise Conflict(
                f"the event was sent in batch {current.delivery.batch_id}; retry the batch"
            )
        if not await self._store.deliveries.retry(app.id, delivery_id, now=time.time()):
            raise Conflict("the delivery is being sent right now; retry when it finishes")
        self._store.wakeup.set()
        return await self.get(app, delivery_id)

    async def test(self, app: App, webhook: Webhook, event_type: str | None) -> DeliveryDetail:
        """Send the event type's sample to the webhook now (even when disabled); no retries."""
        name = event_type or next((e for e in webhook.events if not is_pattern(e)), None)
        sample = dict(DEFAULT_SAMPLE)
        if name is None:
            name = "webhook.test"
        else:
            known = await self._store.event_types.get(app.id, name)
            if known is not None:
                sample = known.sample
        now = time.time()
        claimed = await self._store.events.publish_to(
            webhook,
            NewEvent(name, orjson.dumps(sample).decode(), live=False),
            now=now,
            lease_seconds=self._settings.request_timeout + self._settings.lease_seconds,
        )
        _, record = await attempt(
            claimed, self._sender, self._policy, System.for_settings(self._settings), retries=False
        )
        # A test must not disable the webhook the user is trying out, nor count toward its
        # health, e-mail or operational events.
        record.disable_reason = None
        record.counts = False
        await self._store.deliveries.record([record], now=time.time())
        return await self.get(app, claimed.delivery.id)
