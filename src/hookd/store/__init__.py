"""The only code that writes SQL.

    Store                one per process; opened from a database URL
    ├── apps             apps, API keys
    ├── event_types      the catalogue of event types
    ├── webhooks         subscriptions and their health
    ├── events           publish: events and their deliveries in one transaction
    └── deliveries       claim under a lease, record attempts in batches

SQLite and PostgreSQL share this code through SQLAlchemy Core; where they
differ (locking, wake-ups) the difference is named in place.
"""

from __future__ import annotations

import asyncio

from hookd.store.apps import AppRepository
from hookd.store.deliveries import DeliveryRepository
from hookd.store.engine import Engines, open_engines
from hookd.store.event_types import EventTypeRepository
from hookd.store.events import EventRepository
from hookd.store.migrate import upgrade
from hookd.store.webhooks import WebhookRepository

__all__ = ["Store"]


class Store:
    """hookd's database, as repositories by concept."""

    def __init__(self, engines: Engines) -> None:
        self.engines = engines
        self.wakeup = asyncio.Event()
        self.apps = AppRepository(engines)
        self.event_types = EventTypeRepository(engines)
        self.webhooks = WebhookRepository(engines)
        self.events = EventRepository(engines, on_commit=self.wakeup.set)
        self.deliveries = DeliveryRepository(engines)

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Open the database at `url`, applying migrations first when asked."""
        engines = open_engines(url)
        if migrate:
            await upgrade(engines.write)
        return cls(engines)

    @property
    def dialect(self) -> str:
        return self.engines.dialect

    async def close(self) -> None:
        await self.engines.dispose()
