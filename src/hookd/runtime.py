"""Everything one hookd process runs, built and torn down in one place."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from hookd.config import Settings
from hookd.delivery.ingest import Ingest
from hookd.delivery.sender import Sender
from hookd.delivery.worker import Worker
from hookd.service.auth import Auth, ensure_admin_key
from hookd.service.deliveries import DeliveryService
from hookd.service.event_types import EventTypeService
from hookd.service.preview import PreviewService
from hookd.service.webhooks import WebhookService
from hookd.store import Store

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    sender: Sender
    auth: Auth
    ingest: Ingest
    webhooks: WebhookService
    event_types: EventTypeService
    deliveries: DeliveryService
    previews: PreviewService
    worker: Worker | None = None
    new_admin_key: str | None = None

    @classmethod
    async def start(cls, settings: Settings, *, worker: bool) -> Runtime:
        """Open the store (migrating it), make sure the basics exist, start the worker."""
        store = await Store.open(settings.db)
        await store.apps.ensure_default(time.time())
        new_key = await ensure_admin_key(store, settings.admin_key)
        sender = Sender.for_settings(settings)
        sender.open()
        runtime = cls(
            settings=settings,
            store=store,
            sender=sender,
            auth=Auth(store, settings.admin_key),
            ingest=Ingest(store, settings),
            webhooks=WebhookService(store, settings),
            event_types=EventTypeService(store),
            deliveries=DeliveryService(store, settings, sender),
            previews=PreviewService(store, settings),
            new_admin_key=new_key,
        )
        if worker:
            runtime.worker = Worker(store, sender, settings)
            runtime.worker.start()
        return runtime

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
        await self.sender.close()
        await self.store.close()
