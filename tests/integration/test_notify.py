"""PostgreSQL wake-ups: a NOTIFY at commit wakes workers in other processes at once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from hookd.config import Settings
from hookd.delivery.sender import Sender
from hookd.delivery.worker import Worker
from hookd.domain.models import DeliveryStatus
from hookd.store import Store
from hookd.store.notify import APPLICATION_NAME, Listener
from hookd.store.records import NewEvent
from tests.support.factories import make_webhook, publish
from tests.support.polling import eventually
from tests.support.receiver import Receiver

URL = "https://example.com/hook"


@pytest.fixture
async def publisher(pg_url: str) -> AsyncIterator[Store]:
    """A store as an API process has it: it publishes, it does not listen."""
    store = await Store.open(pg_url, migrate=False)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def app_id(publisher: Store) -> str:
    return (await publisher.apps.ensure_default(time.time())).id


@pytest.fixture
async def heard(pg_url: str, publisher: Store) -> AsyncIterator[Heard]:
    """A listener, as another process runs it, counting the wake-ups it gets."""
    got = Heard()
    listener = Listener(publisher.engines.write, got.wake, check_every=0.5, min_backoff=0.05)
    listener.start()
    try:
        await until(listener.listening.is_set, "LISTEN")
        got.listener = listener
        yield got
    finally:
        await listener.stop()


class Heard:
    def __init__(self) -> None:
        self.count = 0
        self.listener: Listener | None = None

    def wake(self) -> None:
        self.count += 1

    async def at_least(self, count: int) -> None:
        await until(lambda: self.count >= count, f"{count} wake-ups")


async def until(predicate: Callable[[], bool], what: str) -> None:
    async def check() -> bool:
        return predicate()

    await eventually(check, timeout=5, what=what)


async def backends(pg_url: str) -> list[int]:
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1", APPLICATION_NAME
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


class TestNotify:
    async def test_publish_wakes_a_listener_in_another_process_at_commit(
        self, publisher: Store, app_id: str, heard: Heard
    ) -> None:
        await make_webhook(publisher, app_id, URL)
        base = heard.count  # one wake-up on connecting: anything may be due

        def explode(*_: object) -> list[str]:
            raise RuntimeError("fan-out failed")

        with pytest.raises(RuntimeError):  # rolled back: no notification
            await publisher.events.publish(
                app_id,
                [NewEvent("job.start", "{}")],
                explode,
                now=time.time(),
                idempotency_window=1,
            )
        await publish(publisher, app_id)
        await heard.at_least(base + 1)
        # Notifications arrive in commit order, so the rolled-back one would be here by now.
        assert heard.count == base + 1

    async def test_a_publish_in_one_statement_wakes_listeners_when_deliveries_are_due(
        self, publisher: Store, app_id: str, heard: Heard
    ) -> None:
        await make_webhook(publisher, app_id, URL)
        await make_webhook(publisher, app_id, URL, ["job.queued"], mode="queued")
        base = heard.count
        await publish(publisher, app_id)  # reads who is subscribed: the usual transaction
        await heard.at_least(base + 1)
        await publish(publisher, app_id, "job.queued")  # the same, for this type
        await publish(publisher, app_id)
        await heard.at_least(base + 2)
        assert publisher.events.at_once == 1
        await publish(publisher, app_id, "job.queued")  # queued: nothing due, no wake-up
        await publish(publisher, app_id)
        await heard.at_least(base + 3)
        assert publisher.events.at_once == 3
        assert heard.count == base + 3

    async def test_retry_and_release_wake_listeners(
        self, publisher: Store, app_id: str, heard: Heard
    ) -> None:
        await make_webhook(publisher, app_id, URL)
        await publish(publisher, app_id)
        await heard.at_least(2)
        [claimed] = await publisher.deliveries.claim(1, lease_seconds=60, now=time.time())
        await publisher.deliveries.release([claimed], now=time.time())
        await heard.at_least(3)
        assert not await publisher.deliveries.retry(app_id, "dlv_missing", now=time.time())
        assert await publisher.deliveries.retry(app_id, claimed.delivery.id, now=time.time())
        await heard.at_least(4)
        assert heard.count == 4

    async def test_listener_reconnects_when_its_connection_is_killed(
        self, pg_url: str, publisher: Store, app_id: str, heard: Heard
    ) -> None:
        assert heard.listener is not None and heard.listener.connections == 1
        [pid] = await backends(pg_url)
        conn = await asyncpg.connect(pg_url)
        try:
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await conn.close()
        listener = heard.listener
        await until(
            lambda: listener.connections == 2 and listener.listening.is_set(),
            "the listener to reconnect",
        )
        assert len(await backends(pg_url)) == 1
        before = heard.count
        await make_webhook(publisher, app_id, URL)
        await publish(publisher, app_id)
        await heard.at_least(before + 1)

    async def test_stopping_closes_the_connection(self, pg_url: str, publisher: Store) -> None:
        store = await Store.open(pg_url, migrate=False, listen=True)
        assert store.listener is not None
        await until(store.listener.listening.is_set, "LISTEN")
        assert len(await backends(pg_url)) == 1
        await store.close()

        async def closed() -> bool:
            return await backends(pg_url) == []

        await eventually(closed, what="the LISTEN connection to close")

    async def test_sqlite_has_no_listener(self, tmp_path: Path) -> None:
        store = await Store.open(f"sqlite:///{tmp_path / 'hookd.db'}", listen=True)
        try:
            assert store.listener is None
        finally:
            await store.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
async def start_worker(pg_url: str) -> AsyncIterator[Callable[..., Awaitable[Store]]]:
    """Start a worker process's parts on their own store; stop them after the test."""
    running: list[tuple[Store, Worker, Sender]] = []

    async def start(*, listen: bool, poll: float) -> Store:
        settings = Settings(db=pg_url, dev=True, poll_interval=poll, lease_seconds=5)
        store = await Store.open(pg_url, migrate=False, listen=listen)
        sender = Sender.for_settings(settings)
        sender.open()
        worker = Worker(store, sender, settings)
        worker.start()
        running.append((store, worker, sender))
        if store.listener is not None:
            await until(store.listener.listening.is_set, "LISTEN")
        return store

    yield start
    for store, worker, sender in running:
        await worker.stop()
        await sender.close()
        await store.close()


class TestWorkerWakeups:
    """A worker on its own store; events published through another (the API's)."""

    async def test_notify_wakes_an_idle_worker_long_before_its_poll(
        self,
        publisher: Store,
        app_id: str,
        receiver: Receiver,
        start_worker: Callable[..., Awaitable[Store]],
    ) -> None:
        await make_webhook(publisher, app_id, receiver.url + "/hook")
        await start_worker(listen=True, poll=60)
        for sent in range(1, 4):
            began = time.monotonic()
            await publish(publisher, app_id)
            await receiver.wait_for_async(sent, timeout=5)
            assert time.monotonic() - began < 2  # the poll would take 60 s

    async def test_without_notifications_polling_still_delivers(
        self,
        publisher: Store,
        app_id: str,
        receiver: Receiver,
        start_worker: Callable[..., Awaitable[Store]],
    ) -> None:
        await make_webhook(publisher, app_id, receiver.url + "/hook")
        store = await start_worker(listen=False, poll=0.2)
        published = await publish(publisher, app_id)
        await receiver.wait_for_async(1, timeout=5)

        async def succeeded() -> bool:
            page = await store.deliveries.page(app_id, limit=1, event_id=published.event.id)
            return page.items[0].status is DeliveryStatus.SUCCEEDED

        await eventually(succeeded, what="the delivery to succeed")
