"""The worker against a real loopback receiver whose answers the test scripts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from standardwebhooks.webhooks import Webhook as StandardWebhook

from hookd.delivery.worker import Worker
from hookd.domain import signing
from hookd.domain.models import DeliveryStatus
from hookd.store import Store
from tests.support.factories import make_webhook, publish
from tests.support.polling import eventually
from tests.support.receiver import Receiver, Reply


async def delivery_of(store: Store, app_id: str, event_id: str, status: DeliveryStatus):  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        page = await store.deliveries.page(app_id, limit=5, event_id=event_id)
        if page.items and page.items[0].status is status:
            return await store.deliveries.get(app_id, page.items[0].id)
        return None

    return await eventually(check, what=f"delivery of {event_id} to be {status}")


class TestDelivery:
    async def test_signed_envelope_arrives_and_verifies(
        self, store: Store, worker: Worker, receiver: Receiver, app_id: str
    ) -> None:
        secret = signing.generate_secret()
        await make_webhook(store, app_id, receiver.url + "/hook", secret=secret)
        published = await publish(store, app_id, "job.start", {"job": {"title": "Webhooks!"}})
        [request] = await receiver.wait_for_async(1)
        assert request.path == "/hook" and request.method == "POST"
        assert request.headers["content-type"] == "application/json"
        body = request.json()
        assert body["id"] == published.event.id and body["type"] == "job.start"
        assert body["live"] is True and body["data"] == {"job": {"title": "Webhooks!"}}
        assert body["timestamp"].endswith("Z")
        StandardWebhook(secret).verify(request.body, request.headers)
        assert request.headers["webhook-id"] == published.event.id
        detail = await delivery_of(store, app_id, published.event.id, DeliveryStatus.SUCCEEDED)
        [attempt] = detail.attempts
        assert attempt.response_status == 200 and attempt.outcome == "succeeded"
        assert secret not in str(attempt.request_headers)

    async def test_500_500_200_gives_three_attempts_and_success(
        self, store: Store, worker: Worker, receiver: Receiver, app_id: str
    ) -> None:
        receiver.script(Reply(500, body=b"oops"), Reply(500), Reply(200))
        wh = await make_webhook(store, app_id, receiver.url, secret=signing.generate_secret())
        published = await publish(store, app_id)
        requests = await receiver.wait_for_async(3)
        assert len({r.headers["webhook-id"] for r in requests}) == 1  # stable across retries
        detail = await delivery_of(store, app_id, published.event.id, DeliveryStatus.SUCCEEDED)
        assert [a.response_status for a in detail.attempts] == [500, 500, 200]
        assert detail.attempts[0].response_body == "oops"
        assert detail.attempts[0].error_message == "500 Internal Server Error"
        after = await store.webhooks.get(app_id, wh.id)
        assert after is not None and after.failure_streak == 0
        assert after.last_error == "500 Internal Server Error"

    async def test_retries_run_out_then_failed(
        self, store: Store, worker: Worker, receiver: Receiver, app_id: str
    ) -> None:
        receiver.default = Reply(404)
        wh = await make_webhook(store, app_id, receiver.url)
        published = await publish(store, app_id)
        detail = await delivery_of(store, app_id, published.event.id, DeliveryStatus.FAILED)
        assert len(detail.attempts) == 4  # schedule of three retries
        after = await store.webhooks.get(app_id, wh.id)
        assert after is not None and after.last_error == "404 Not Found"
        assert after.failure_streak == 4 and after.enabled

    async def test_410_disables_the_webhook(
        self, store: Store, worker: Worker, receiver: Receiver, app_id: str
    ) -> None:
        receiver.default = Reply(410)
        wh = await make_webhook(store, app_id, receiver.url)
        published = await publish(store, app_id)
        await delivery_of(store, app_id, published.event.id, DeliveryStatus.FAILED)
        after = await store.webhooks.get(app_id, wh.id)
        assert after is not None and not after.enabled and after.last_error == "410 Gone"
        assert "410 Gone" in (after.disabled_reason or "")

    async def test_retry_after_is_honoured(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=(0.05, 30.0))
        receiver.script(Reply(503, headers={"Retry-After": "1"}), Reply(200))
        await make_webhook(store, app_id, receiver.url)
        await publish(store, app_id)
        first, second = await receiver.wait_for_async(2)
        assert second.received_at - first.received_at >= 0.9

    async def test_connection_refused_is_recorded_in_words(
        self, store: Store, worker: Worker, app_id: str
    ) -> None:
        with Receiver() as rx:
            dead = rx.url
        await make_webhook(store, app_id, dead)
        published = await publish(store, app_id)
        detail = await delivery_of(store, app_id, published.event.id, DeliveryStatus.FAILED)
        assert detail.attempts[0].error_code == "connection_refused"
        assert detail.delivery.last_error == "connection refused"

    async def test_timeout(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(request_timeout=0.3, retry_schedule=())
        receiver.default = Reply(action="hang")
        await make_webhook(store, app_id, receiver.url)
        published = await publish(store, app_id)
        detail = await delivery_of(store, app_id, published.event.id, DeliveryStatus.FAILED)
        assert detail.attempts[0].error_code == "timeout"
        assert detail.delivery.last_error == "timed out after 0.3 s"

    async def test_many_events_many_webhooks_each_exactly_once(
        self, store: Store, worker: Worker, receiver: Receiver, app_id: str
    ) -> None:
        for _ in range(5):
            await make_webhook(store, app_id, receiver.url)
        for _ in range(40):
            await publish(store, app_id)
        await receiver.wait_for_async(200, timeout=30)
        assert len(receiver.received()) == 200

        async def all_succeeded() -> bool:
            page = await store.deliveries.page(app_id, limit=250, status="succeeded")
            return len(page.items) == 200

        await eventually(all_succeeded, what="200 succeeded deliveries")


class TestWhenToClaim:
    async def test_a_full_worker_woken_by_new_work_waits_without_spinning(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        # Two slots, both held by requests the receiver never answers.
        worker = start_worker(concurrency=2, claim_batch=2, request_timeout=5.0)
        receiver.default = Reply(action="hang")
        for _ in range(2):
            await make_webhook(store, app_id, receiver.url)
        await publish(store, app_id)
        await receiver.wait_for_async(2)
        assert worker.in_flight == 2
        await publish(store, app_id)  # wakes the worker, which has no room for it
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(0.5)  # the span measured: this test's process does nothing else
        used = time.process_time() - cpu
        # Spinning on the wake-up (until a slot frees) used the whole span.
        assert used < 0.25 * (time.monotonic() - wall), f"{used:.3f} s of CPU in 0.5 s"
        assert worker.in_flight == 2

    async def test_a_webhook_owed_more_than_one_claim_takes_gets_the_rest_without_a_poll(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        # A claim takes up to NEW_LANE_ROOM (20) of one webhook's deliveries; the
        # rest are claimed as those finish, not at the next poll (30 s away).
        await make_webhook(store, app_id, receiver.url)
        for _ in range(50):
            await publish(store, app_id)
        start_worker(poll_interval=30.0)
        await receiver.wait_for_async(50, timeout=10)
