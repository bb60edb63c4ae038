"""The only code that writes SQL.

    Store                one per process; opened from a database URL
    ├── apps             apps, API keys
    ├── people           users, organizations, members of orgs and apps, users' tokens
    ├── audit            who changed what
    ├── event_types      the catalogue of event types
    ├── webhooks         subscriptions and their health
    ├── events           publish: events and their deliveries (or fan-outs) in one transaction
    ├── fanouts          wide fan-outs' deliveries, made in chunks after the publish
    ├── deliveries       claim under a lease, record attempts in batches (fenced)
    ├── workers          delivering processes' heartbeats; taking over the dead's leases
    ├── batches          queued deliveries gathered into batch deliveries (queued mode)
    ├── circuit          a webhook's circuit breaker at send time: probe or wait
    ├── notifications    failures waiting for the owners' e-mail digest
    ├── recovery         re-queue a window of failed deliveries; cancel one
    ├── retention        purge what is finished and older than the retention
    ├── portal_links     the console's portal links and its signing secret
    ├── sessions         (PostgreSQL) end hookd sessions stalled on a frozen process
    └── listener         (PostgreSQL, when asked) LISTEN for due deliveries → wakeup

SQLite and PostgreSQL share this code through SQLAlchemy Core; where they
differ (locking, wake-ups) the difference is named in place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hookd.store.apps import AppRepository
from hookd.store.audit import AuditRepository
from hookd.store.batches import BatchRepository
from hookd.store.deliveries import DeliveryRepository
from hookd.store.engine import Engines, open_engines
from hookd.store.event_types import EventTypeRepository
from hookd.store.events import EventRepository
from hookd.store.fanouts import FanoutRepository
from hookd.store.health import CircuitRepository
from hookd.store.migrate import upgrade
from hookd.store.notifications import NotificationRepository
from hookd.store.notify import Listener
from hookd.store.people import PeopleRepository
from hookd.store.portal_links import PortalLinkRepository
from hookd.store.recovery import RecoveryRepository
from hookd.store.retention import RetentionRepository
from hookd.store.sessions import SessionRepository
from hookd.store.webhooks import WebhookRepository
from hookd.store.workers import WorkerRepository

__all__ = ["Store"]


class Store:
    """hookd's database, as repositories by concept."""

    def __init__(self, engines: Engines) -> None:
        self.engines = engines
        self.wakeup = asyncio.Event()
        self.watchers: list[Callable[[], None]] = []  # also told of new due work
        self.fanouts_owed = asyncio.Event()  # a publish deferred a fan-out (delivery/fanout.py)
        self.apps = AppRepository(engines)
        self.people = PeopleRepository(engines)
        self.audit = AuditRepository(engines)
        self.event_types = EventTypeRepository(engines)
        self.webhooks = WebhookRepository(engines)
        self.events = EventRepository(
            engines, on_commit=self.new_work, on_deferred=self.fanouts_owed.set
        )
        self.fanouts = FanoutRepository(engines, on_commit=self.new_work)
        self.deliveries = DeliveryRepository(engines)
        self.workers = WorkerRepository(engines)  # delivering processes and their heartbeats
        self.batches = BatchRepository(engines, on_commit=self.new_work)
        self.circuit = CircuitRepository(engines)
        self.notifications = NotificationRepository(engines)
        self.recovery = RecoveryRepository(engines)
        self.retention = RetentionRepository(engines)
        self.sessions = SessionRepository(engines)
        self.portal_links = PortalLinkRepository(engines)  # console portal links
        self.listener: Listener | None = None

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True, listen: bool = False) -> Store:
        """Open the database at `url`, applying migrations first when asked.

        `listen`: on PostgreSQL, set `wakeup` when any process makes deliveries due.
        """
        engines = open_engines(url)
        if migrate:
            await upgrade(engines.write)
        store = cls(engines)
        if listen and store.dialect == "postgresql":
            store.listener = Listener(engines.write, store.wakeup.set)
            store.listener.start()
        return store

    def new_work(self) -> None:
        """Wake this process's worker, and tell the watchers (other processes' wake-ups)."""
        self.wakeup.set()
        for watcher in self.watchers:
            watcher()

    @property
    def dialect(self) -> str:
        return self.engines.dialect

    async def close(self) -> None:
        if self.listener is not None:
            await self.listener.stop()
        await self.engines.dispose()
