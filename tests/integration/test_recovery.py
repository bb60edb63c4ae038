"""Recovery: send a window of failed deliveries again (service and `hookd recover`); cancel."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from hookd import cli
from hookd.delivery.worker import Worker
from hookd.domain.models import PARKED_AT, App, DeliveryStatus
from hookd.errors import Conflict, Invalid, NotFound
from hookd.service.recovery import RecoveryService, Window
from hookd.store import Store
from tests.support.factories import make_webhook, publish
from tests.support.outcomes import deliveries_of, settled
from tests.support.receiver import Receiver, Reply


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


async def app_of(store: Store, app_id: str) -> App:
    app = await store.apps.get(app_id)
    assert app is not None
    return app


async def fail_in_two_windows(store: Store, app_id: str, url: str) -> tuple[list[str], float]:
    """Publish 3 events, then (after the returned moment) 2 more; wait until all 5 failed."""
    wh = await make_webhook(store, app_id, url)
    early = [await publish(store, app_id) for _ in range(3)]
    await asyncio.sleep(0.01)  # a clean boundary between the two windows
    middle = time.time()
    late = [await publish(store, app_id) for _ in range(2)]
    for p in early + late:
        await settled(store, app_id, p.event.id, DeliveryStatus.FAILED)
    return [wh.id, *(p.event.id for p in late)], middle


class TestRecover:
    async def test_only_the_failed_deliveries_of_the_window_go_again(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=())
        receiver.default = Reply(500)
        (webhook_id, *late), middle = await fail_in_two_windows(store, app_id, receiver.url)
        receiver.default = Reply(200)
        service = RecoveryService(store)
        app = await app_of(store, app_id)
        window = Window(middle, None, now=time.time())
        assert await service.count(app, webhook_id, window) == 2
        progress: list[int] = []
        assert await service.recover(app, webhook_id, window, progress=progress.append) == 2
        assert progress == [2]
        for event_id in late:
            detail = await settled(store, app_id, event_id, DeliveryStatus.SUCCEEDED)
            assert [a.response_status for a in detail.attempts] == [500, 200]
        statuses = [d.status for d in await deliveries_of(store, app_id, webhook_id)]
        assert statuses.count(DeliveryStatus.FAILED) == 3
        assert await service.recover(app, webhook_id, window) == 0  # nothing failed is left

    async def test_a_disabled_webhooks_recovered_deliveries_wait_for_it(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=())
        receiver.default = Reply(500)
        (webhook_id, *_), middle = await fail_in_two_windows(store, app_id, receiver.url)
        await store.webhooks.update(app_id, webhook_id, {"enabled": False}, time.time())
        app = await app_of(store, app_id)
        window = Window(middle - 60, None, now=time.time())
        assert await RecoveryService(store).recover(app, webhook_id, window) == 5
        owed = await deliveries_of(store, app_id, webhook_id)
        assert all(
            d.status is DeliveryStatus.PENDING and d.next_attempt_at >= PARKED_AT for d in owed
        )
        receiver.default = Reply(200)
        await store.webhooks.update(app_id, webhook_id, {"enabled": True}, time.time())
        await receiver.wait_for_async(10)

    async def test_an_empty_window_or_an_unknown_webhook_is_refused(
        self, store: Store, app_id: str
    ) -> None:
        now = time.time()
        with pytest.raises(Invalid, match="since must be before until"):
            Window(now, now - 10, now=now)
        with pytest.raises(Invalid):
            Window(now + 10, None, now=now)
        app = await app_of(store, app_id)
        with pytest.raises(NotFound):
            await RecoveryService(store).recover(app, "wh_nope", Window(0, None, now=now))

    async def test_the_command_line_shows_progress_and_re_queues(
        self,
        store: Store,
        start_worker: Callable[..., Worker],
        receiver: Receiver,
        app_id: str,
        db_url: str,
    ) -> None:
        worker = start_worker(retry_schedule=())
        receiver.default = Reply(500)
        (webhook_id, *late), middle = await fail_in_two_windows(store, app_id, receiver.url)
        await worker.stop()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKD_")}
        args = ["--webhook", webhook_id, "--since", rfc3339(middle), "--db", db_url]
        command = [sys.executable, "-m", "hookd", "recover", *args]
        done = await asyncio.to_thread(
            subprocess.run, command, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "recovering" in done.stdout and "2/2" in done.stdout
        assert f"2 failed deliveries of {webhook_id} created" in done.stdout
        for event_id in late:
            detail = await settled(store, app_id, event_id, DeliveryStatus.PENDING)
            assert detail.delivery.next_attempt_at < PARKED_AT
        bad = CliRunner().invoke(cli.app, ["recover", *args[:3], "yesterday", *args[4:]])
        assert bad.exit_code == 2 and "--since must be an RFC 3339 time" in bad.output


class TestCancel:
    async def test_pending_and_queued_deliveries_can_be_cancelled(
        self, store: Store, app_id: str
    ) -> None:
        service = RecoveryService(store)
        app = await app_of(store, app_id)
        await make_webhook(store, app_id, "https://example.com/a")
        await make_webhook(store, app_id, "https://example.com/b", mode="queued")
        published = await publish(store, app_id)
        page = await store.deliveries.page(app_id, limit=5, event_id=published.event.id)
        assert {d.status for d in page.items} == {DeliveryStatus.PENDING, DeliveryStatus.QUEUED}
        for delivery in page.items:
            detail = await service.cancel(app, delivery.id)
            assert detail.delivery.status is DeliveryStatus.CANCELLED
            with pytest.raises(Conflict, match="the delivery is cancelled"):
                await service.cancel(app, delivery.id)
        assert await store.deliveries.claim(10, lease_seconds=5, now=time.time()) == []

    async def test_a_delivery_being_sent_cannot_be_cancelled(
        self, store: Store, app_id: str
    ) -> None:
        app = await app_of(store, app_id)
        await make_webhook(store, app_id, "https://example.com/a")
        await publish(store, app_id)
        [claimed] = await store.deliveries.claim(10, lease_seconds=5, now=time.time())
        with pytest.raises(Conflict, match="being sent right now"):
            await RecoveryService(store).cancel(app, claimed.delivery.id)
        with pytest.raises(NotFound):
            await RecoveryService(store).cancel(app, "dlv_nope")
