"""A worker with hookd's failure alerts wired in: operational events and owner e-mail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from hookd.config import Settings
from hookd.delivery.operational import OperationalEvents
from hookd.delivery.sender import Sender
from hookd.delivery.worker import Worker
from hookd.store import Store


@dataclass
class Alerting:
    worker: Worker
    operational: OperationalEvents
    settings: Settings


@asynccontextmanager
async def alerting(
    store: Store, settings: Settings, **overrides: object
) -> AsyncIterator[Alerting]:
    """Run a worker whose incidents become operational events, as `hookd serve` does."""
    tuned = settings.model_copy(update=overrides)
    operational = OperationalEvents(store, tuned)
    operational.start()
    store.webhooks.on_enabled = operational.webhook_enabled
    sender = Sender.for_settings(tuned)
    worker = Worker(store, sender, tuned, on_incidents=operational.put)
    worker.start()
    try:
        yield Alerting(worker, operational, tuned)
    finally:
        await worker.stop()
        await operational.stop()
        await sender.close()
        store.webhooks.on_enabled = None
