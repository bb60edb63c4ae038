"""Everything one hookd process runs, built and torn down in one place."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import time
from dataclasses import dataclass

from hookd import telemetry
from hookd.background import every, stopping
from hookd.config import Settings
from hookd.delivery.batching import Scheduler
from hookd.delivery.fanout import Expander
from hookd.delivery.ingest import Ingest
from hookd.delivery.mailing import Notifier, mailer_for
from hookd.delivery.operational import OperationalEvents
from hookd.delivery.processes import Children
from hookd.delivery.sender import Sender
from hookd.delivery.worker import Worker
from hookd.service.apps import AppService
from hookd.service.audit import AuditService
from hookd.service.auth import Auth, ensure_admin_key
from hookd.service.deliveries import DeliveryService
from hookd.service.event_types import EventTypeService
from hookd.service.people import PeopleService
from hookd.service.portal import PortalService
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
    audit: AuditService
    people: PeopleService  # users, tokens, orgs, members of orgs and apps
    apps: AppService
    portal: PortalService  # console portal links
    expander: Expander | None = None  # makes the deliveries of wide fan-outs
    worker: Worker | None = None
    new_admin_key: str | None = None
    purger: asyncio.Task[None] | None = None
    reaper: asyncio.Task[None] | None = None  # ends stalled sessions (PostgreSQL workers)
    scheduler: Scheduler | None = None  # flushes queued webhooks on their batch_interval
    operational: OperationalEvents | None = None  # publishes webhook.disabled, delivery.failed …
    notifier: Notifier | None = None  # e-mails failure digests (with a worker and HOOKD_SMTP_URL)
    children: Children | None = None  # more delivery processes (HOOKD_DELIVERY_PROCESSES)

    @classmethod
    async def start(cls, settings: Settings, *, worker: bool, children: bool = False) -> Runtime:
        """Open the store (migrating it), make sure the basics exist, start the worker.

        `children`: also start the extra delivery processes settings ask for (`hookd serve`).
        """
        mailer = mailer_for(settings)  # a bad HOOKD_SMTP_URL stops hookd here, not later
        store = await Store.open(settings.db, listen=worker)
        await store.apps.ensure_default(time.time())
        new_key = await ensure_admin_key(store, settings.admin_key)
        sender = Sender.for_settings(settings)
        sender.open()
        auth = Auth(store, settings.admin_key)
        audit = AuditService(store)
        runtime = cls(
            settings=settings,
            store=store,
            sender=sender,
            auth=auth,
            ingest=Ingest(store, settings),
            webhooks=WebhookService(store, settings),
            event_types=EventTypeService(store),
            deliveries=DeliveryService(store, settings, sender),
            previews=PreviewService(store, settings),
            audit=audit,
            people=PeopleService(store, auth, audit),
            apps=AppService(store, auth, audit),
            portal=PortalService(store, auth),
            new_admin_key=new_key,
        )
        telemetry.start(settings, store)  # off unless an OTLP endpoint is set
        runtime.expander = Expander(store, poll=settings.poll_interval)
        runtime.expander.start()
        runtime.operational = OperationalEvents(store, settings)
        runtime.operational.start()
        store.webhooks.on_enabled = runtime.operational.webhook_enabled
        if worker:
            runtime.worker = Worker(store, sender, settings, on_incidents=runtime.operational.put)
            runtime.worker.start()
            if mailer is not None:
                runtime.notifier = Notifier(
                    store, mailer, interval=settings.mail_interval, base_url=settings.base_url
                )
                runtime.notifier.start()
            runtime.scheduler = Scheduler(store, tick=settings.poll_interval)
            runtime.scheduler.start()
            if settings.retention_days > 0:
                runtime.purger = asyncio.create_task(purge_periodically(store, settings))
            if store.dialect == "postgresql":
                runtime.reaper = asyncio.create_task(end_stalled_sessions(store, settings))
            if children and settings.delivery_processes > 1:
                runtime.children = Children(settings)
                await runtime.children.start(settings.delivery_processes - 1)
                store.watchers.append(runtime.children.wake)
        return runtime

    async def stop(self) -> None:
        if self.children is not None:
            await self.children.stop()
        if self.scheduler is not None:
            await self.scheduler.stop()
        for task in (self.purger, self.reaper):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.worker is not None:
            await self.worker.stop()
        if self.notifier is not None:
            await self.notifier.stop()
        if self.operational is not None:
            await self.operational.stop()
        if self.expander is not None:
            await self.expander.stop()
        await self.sender.close()
        await telemetry.shutdown()  # exports the last spans
        await self.store.close()


# Collect young objects every 10,000 allocations (CPython: 700) and scan everything
# far less often. Delivering allocates a few hundred short-lived containers per
# request, so the default thresholds ran a full collection every few hundred
# deliveries, each walking every object alive. Measured on the delivery
# pipeline: 434 -> 278 µs of CPU per delivery (benchmarks, scenario 1).
GC_THRESHOLDS = (10_000, 50, 1_000)


def collect_less() -> None:
    """Move what start-up built out of the collector's sight; collect less often.

    For the `serve` and `worker` commands, once their modules are imported.
    """
    telemetry.preload()  # its modules are frozen with the rest
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def end_stalled_sessions(store: Store, settings: Settings) -> None:
    """End sessions stalled on a frozen process, checking twice per allowed stall."""
    limit = settings.stalled_session_seconds

    async def step() -> None:
        ended = await store.sessions.end_stalled(older_than=limit)
        if ended:
            log.warning(
                "ended %d database session(s) stalled mid-statement for over %g s"
                " (a frozen hookd process held their locks)",
                ended,
                limit,
            )

    await every(limit / 2, step, what="ending stalled sessions", log=log)


async def purge_periodically(store: Store, settings: Settings) -> None:
    """Purge what retention lets go now and then; cheap when there is nothing to purge.

    Every worker process runs this. The first run waits a random part of the
    interval (at most a minute) so processes started together do not all purge
    at once; if two do overlap, the second finds the rows gone.
    """
    await asyncio.sleep(random.uniform(0, min(settings.purge_interval, 60.0)))
    while True:
        began = time.monotonic()
        try:
            purged = await store.retention.purge(
                before=time.time() - settings.retention_days * 86400
            )
        except Exception as exc:
            if stopping():
                raise asyncio.CancelledError from exc
            log.exception("purge: failed; trying again at the next interval")
        else:
            if purged.rows:
                log.info(
                    "purge: deleted %d deliveries, %d attempts, %d events in %.1f s",
                    purged.deliveries,
                    purged.attempts,
                    purged.events,
                    time.monotonic() - began,
                )
        await asyncio.sleep(settings.purge_interval * random.uniform(0.9, 1.1))
