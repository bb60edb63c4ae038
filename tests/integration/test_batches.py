"""Queued batch delivery: a queued webhook's events wait, a flush gathers them, the worker sends.

Every test runs on SQLite and PostgreSQL, against a real loopback receiver.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from hookd.config import Settings
from hookd.delivery.batching import STRAGGLER_SECONDS, Scheduler, flush_webhook
from hookd.delivery.sender import Sender
from hookd.delivery.worker import Worker
from hookd.domain import signing
from hookd.domain.models import PARKED_AT, Delivery, DeliveryStatus, Webhook
from hookd.errors import Conflict
from hookd.service.deliveries import DeliveryService
from hookd.service.webhooks import WebhookService
from hookd.store import Store
from hookd.store.records import NewEvent
from tests.support.factories import everyone, make_webhook, publish
from tests.support.polling import eventually
from tests.support.receiver import Receiver, Reply

TYPES = ("form.submit", "lead.update")
# Ten events of two types, interleaved: (type, data) in the order they happen.
TEN = [("lead.update" if i % 3 == 0 else "form.submit", {"n": i}) for i in range(10)]


async def queued_webhook(store: Store, app_id: str, url: str, **kw: Any) -> Webhook:
    kw.setdefault("secret", signing.generate_secret())
    return await make_webhook(store, app_id, url, TYPES, mode="queued", **kw)


async def publish_together(
    store: Store, app_id: str, items: Sequence[tuple[str, dict[str, Any]]]
) -> list[str]:
    """Publish in one call (one transaction, one timestamp); return the event ids in order."""
    published = await store.events.publish(
        app_id,
        [NewEvent(t, orjson.dumps(d).decode()) for t, d in items],
        everyone,
        now=time.time(),
        idempotency_window=86400,
    )
    return [p.event.id for p in published]


def grouped(items: Sequence[tuple[str, dict[str, Any]]]) -> bytes:
    """Return the exact body of a batch carrying `items` in this order: {type: [data, …]}."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event_type, data in items:
        by_type.setdefault(event_type, []).append(data)
    return orjson.dumps(by_type)


async def deliveries_of(store: Store, app_id: str, webhook_id: str) -> list[Delivery]:
    page = await store.deliveries.page(app_id, limit=250, webhook_id=webhook_id)
    return page.items


async def carried_settle(
    store: Store, app_id: str, event_ids: Sequence[str], status: DeliveryStatus
) -> list[Delivery]:
    """Wait until the deliveries of these events (carried in batches) show `status`."""

    async def check() -> list[Delivery] | None:
        found = []
        for event_id in event_ids:
            [delivery] = (await store.deliveries.page(app_id, limit=5, event_id=event_id)).items
            if delivery.status is not status:
                return None
            found.append(delivery)
        return found

    return await eventually(check, what=f"carried deliveries to be {status}")


async def batch_settles(store: Store, app_id: str, batch_id: str, status: DeliveryStatus) -> Any:
    async def check() -> Any:
        detail = await store.deliveries.get(app_id, batch_id)
        return detail if detail and detail.delivery.status is status else None

    return await eventually(check, what=f"batch {batch_id} to be {status}")


class TestQueueing:
    async def test_events_wait_queued_until_a_flush(
        self, store: Store, worker: Worker, receiver: Receiver, app_id: str
    ) -> None:
        wh = await queued_webhook(store, app_id, receiver.url)
        await publish_together(store, app_id, TEN[:3])
        waiting = await deliveries_of(store, app_id, wh.id)
        assert [d.status for d in waiting] == [DeliveryStatus.QUEUED] * 3
        assert await store.batches.queued(app_id=app_id) == {wh.id: 3}
        assert await store.deliveries.claim(10, lease_seconds=5, now=time.time()) == []
        assert receiver.received() == []


class TestGroupedBody:
    @pytest.mark.parametrize("order", ["chronological", "reverse"])
    async def test_ten_events_of_two_types_make_one_request_grouped_by_type(
        self, store: Store, worker: Worker, receiver: Receiver, app_id: str, order: str
    ) -> None:
        wh = await queued_webhook(store, app_id, receiver.url + "/hook", batch_order=order)
        event_ids = await publish_together(store, app_id, TEN)

        flushed = await flush_webhook(store, wh.id)

        [batch] = flushed.batches
        [request] = await receiver.wait_for_async(1)
        in_order = TEN if order == "chronological" else TEN[::-1]
        assert request.body == grouped(in_order)
        # Types in order of first appearance, each list in the batch's order.
        assert list(request.json()) == list(dict.fromkeys(t for t, _ in in_order))
        assert request.headers["webhook-id"] == batch.id
        StandardWebhook(wh.secret).verify(request.body, request.headers)
        expected_ids = event_ids if order == "chronological" else event_ids[::-1]
        assert list(batch.event_ids) == expected_ids
        detail = await batch_settles(store, app_id, batch.id, DeliveryStatus.SUCCEEDED)
        assert detail.delivery.kind == "batch" and detail.delivery.event_id is None
        assert [a.response_status for a in detail.attempts] == [200]
        carried = await carried_settle(store, app_id, event_ids, DeliveryStatus.SUCCEEDED)
        assert {d.batch_id for d in carried} == {batch.id}
        assert len(receiver.received()) == 1

    async def test_batch_max_events_4_sends_10_events_in_3_requests(
        self, store: Store, worker: Worker, receiver: Receiver, app_id: str
    ) -> None:
        wh = await queued_webhook(store, app_id, receiver.url, batch_max_events=4)
        event_ids = await publish_together(store, app_id, TEN)

        flushed = await flush_webhook(store, wh.id)

        assert [len(b.event_ids) for b in flushed.batches] == [4, 4, 2]
        assert [e for b in flushed.batches for e in b.event_ids] == event_ids
        requests = await receiver.wait_for_async(3)
        by_id = {r.headers["webhook-id"]: r.body for r in requests}
        assert by_id == {
            flushed.batches[0].id: grouped(TEN[0:4]),
            flushed.batches[1].id: grouped(TEN[4:8]),
            flushed.batches[2].id: grouped(TEN[8:10]),
        }
        await carried_settle(store, app_id, event_ids, DeliveryStatus.SUCCEEDED)
        assert len(receiver.received()) == 3

    async def test_body_verifies_with_the_mautic_style_hmac_base64_signature(
        self, store: Store, worker: Worker, receiver: Receiver, app_id: str
    ) -> None:
        secret = "a Mautic secret key"
        wh = await queued_webhook(
            store, app_id, receiver.url, signing=("hmac-sha256-base64",), secret=secret
        )
        await publish_together(store, app_id, TEN[:4])
        await flush_webhook(store, wh.id)
        [request] = await receiver.wait_for_async(1)
        assert request.body == grouped(TEN[:4])
        # The receiver's own check, as the seed describes it: base64 HMAC-SHA256 of the raw body.
        mac = hmac.new(secret.encode(), request.body, hashlib.sha256).digest()
        assert request.headers["webhook-signature"] == base64.b64encode(mac).decode()


class TestRetries:
    async def test_a_failing_batch_is_retried_whole_with_the_same_id(
        self, store: Store, worker: Worker, receiver: Receiver, app_id: str
    ) -> None:
        receiver.script(Reply(500), Reply(502), Reply(200))
        wh = await queued_webhook(store, app_id, receiver.url)
        event_ids = await publish_together(store, app_id, TEN[:5])

        [batch] = (await flush_webhook(store, wh.id)).batches

        requests = await receiver.wait_for_async(3)
        assert {r.headers["webhook-id"] for r in requests} == {batch.id}
        assert {r.body for r in requests} == {grouped(TEN[:5])}
        for request in requests:
            StandardWebhook(wh.secret).verify(request.body, request.headers)
        detail = await batch_settles(store, app_id, batch.id, DeliveryStatus.SUCCEEDED)
        assert [a.response_status for a in detail.attempts] == [500, 502, 200]
        await carried_settle(store, app_id, event_ids, DeliveryStatus.SUCCEEDED)

    async def test_a_batch_that_keeps_failing_fails_every_event_it_carries(
        self, store: Store, worker: Worker, receiver: Receiver, app_id: str
    ) -> None:
        receiver.default = Reply(404)
        wh = await queued_webhook(store, app_id, receiver.url)
        event_ids = await publish_together(store, app_id, TEN[:3])

        [batch] = (await flush_webhook(store, wh.id)).batches

        detail = await batch_settles(store, app_id, batch.id, DeliveryStatus.FAILED)
        assert len(detail.attempts) == 4  # the whole schedule, as for any delivery
        carried = await carried_settle(store, app_id, event_ids, DeliveryStatus.FAILED)
        assert {(d.batch_id, d.last_error) for d in carried} == {(batch.id, "404 Not Found")}
        after = await store.webhooks.get(app_id, wh.id)
        assert after is not None and after.last_error == "404 Not Found"


class TestConcurrentFlushes:
    async def test_flushes_racing_in_one_process_put_each_event_in_one_batch(
        self, store: Store, app_id: str
    ) -> None:
        wh = await queued_webhook(store, app_id, "http://127.0.0.1:9/", batch_max_events=3)
        event_ids = await publish_together(store, app_id, [TEN[i % 10] for i in range(90)])

        results = await asyncio.gather(*(flush_webhook(store, wh.id) for _ in range(4)))

        carried = [e for r in results for b in r.batches for e in b.event_ids]
        assert sorted(carried) == sorted(event_ids)
        assert all(len(b.event_ids) <= 3 for r in results for b in r.batches)


class TestSchedule:
    @pytest.fixture
    async def scheduler(self, store: Store) -> AsyncIterator[Scheduler]:
        running = Scheduler(store, tick=0.05)
        running.start()
        yield running
        await running.stop()

    async def test_batch_interval_flushes_without_a_command(
        self,
        store: Store,
        worker: Worker,
        scheduler: Scheduler,
        receiver: Receiver,
        app_id: str,
    ) -> None:
        wh = await queued_webhook(store, app_id, receiver.url, batch_interval=1.0)
        await publish_together(store, app_id, TEN[:2])
        [first] = await receiver.wait_for_async(1)
        await publish_together(store, app_id, TEN[2:5])
        _, second = await receiver.wait_for_async(2)

        assert first.body == grouped(TEN[:2]) and second.body == grouped(TEN[2:5])
        made = []
        for request in (first, second):
            batch = await store.deliveries.get(app_id, request.headers["webhook-id"])
            assert batch is not None and batch.delivery.kind == "batch"
            made.append(batch.delivery.created_at)
        assert made[1] - made[0] >= 0.95  # the next round of the interval, not sooner
        after = await store.webhooks.get(app_id, wh.id)
        assert after is not None and after.next_flush_at is not None
        assert after.next_flush_at > time.time() - 0.5

    async def test_without_an_interval_nothing_is_flushed_by_the_scheduler(
        self, store: Store, scheduler: Scheduler, app_id: str
    ) -> None:
        wh = await queued_webhook(store, app_id, "http://127.0.0.1:9/")
        await publish_together(store, app_id, TEN[:2])
        assert await scheduler.run_once() == 0
        assert await store.batches.queued(webhook_id=wh.id) == {wh.id: 2}


class TestWebhookChanges:
    @pytest.fixture
    def service(self, store: Store, settings: Settings) -> WebhookService:
        return WebhookService(store, settings)

    async def test_switching_to_immediate_flushes_what_waits(
        self,
        store: Store,
        worker: Worker,
        receiver: Receiver,
        app_id: str,
        service: WebhookService,
    ) -> None:
        wh = await queued_webhook(store, app_id, receiver.url)
        await publish_together(store, app_id, TEN[:3])
        app = await store.apps.get(app_id)
        assert app is not None

        updated = await service.update(app, wh.id, {"mode": "immediate"})

        [batch_request] = await receiver.wait_for_async(1)
        assert batch_request.body == grouped(TEN[:3])
        # A publish that read the old mode may commit just after: look once more, soon.
        assert updated.next_flush_at is not None
        assert updated.next_flush_at == pytest.approx(time.time() + STRAGGLER_SECONDS, abs=2)
        later = await publish(store, app_id, "form.submit", {"n": 99})
        _, single = await receiver.wait_for_async(2)
        assert single.json()["id"] == later.event.id and single.json()["data"] == {"n": 99}

    async def test_deleting_a_queued_webhook_drops_what_waits(
        self, store: Store, app_id: str, service: WebhookService
    ) -> None:
        wh = await queued_webhook(store, app_id, "http://127.0.0.1:9/", batch_max_events=2)
        event_ids = await publish_together(store, app_id, TEN[:3])
        batch = await store.batches.take(wh.id, now=time.time(), before=time.time())
        assert batch is not None and len(batch.event_ids) == 2
        app = await store.apps.get(app_id)
        assert app is not None

        await service.delete(app, wh.id)

        assert await deliveries_of(store, app_id, wh.id) == []
        assert await store.batches.queued(app_id=app_id) == {}
        assert await store.batches.events(batch.id) == []
        for event_id in event_ids:
            assert (await store.deliveries.page(app_id, limit=5, event_id=event_id)).items == []

    async def test_a_disabled_webhooks_batch_is_parked_until_enabled(
        self, store: Store, worker: Worker, receiver: Receiver, app_id: str
    ) -> None:
        wh = await queued_webhook(store, app_id, receiver.url)
        await publish_together(store, app_id, TEN[:2])
        await store.webhooks.update(app_id, wh.id, {"enabled": False}, time.time())

        [batch] = (await flush_webhook(store, wh.id)).batches

        parked = await store.deliveries.get(app_id, batch.id)
        assert parked is not None and parked.delivery.next_attempt_at == PARKED_AT
        await store.webhooks.update(app_id, wh.id, {"enabled": True}, time.time())
        [request] = await receiver.wait_for_async(1)
        assert request.headers["webhook-id"] == batch.id


class TestReading:
    async def test_a_batch_lists_its_events_and_its_events_name_the_batch(
        self, store: Store, settings: Settings, app_id: str
    ) -> None:
        wh = await queued_webhook(store, app_id, "http://127.0.0.1:9/")
        event_ids = await publish_together(store, app_id, TEN[:4])
        [batch] = (await flush_webhook(store, wh.id)).batches
        service = DeliveryService(store, settings, Sender.for_settings(settings))  # never opened
        app = await store.apps.get(app_id)
        assert app is not None

        detail = await service.get(app, batch.id)

        assert [(e.id, e.type) for e in detail.events] == [
            (event_id, event_type)
            for event_id, (event_type, _) in zip(event_ids, TEN, strict=False)
        ]
        [carried] = (await store.deliveries.page(app_id, limit=5, event_id=event_ids[0])).items
        assert carried.batch_id == batch.id and carried.status is DeliveryStatus.SENDING
        with pytest.raises(Conflict, match=batch.id):
            await service.retry(app, carried.id)
