"""hookd tells other webhooks when one fails or recovers, and never loops."""

from __future__ import annotations

import time
from typing import Any

import orjson

from hookd.config import Settings
from hookd.domain.models import DeliveryStatus
from hookd.store import Store
from tests.support.alerts import alerting
from tests.support.factories import make_webhook, publish
from tests.support.outcomes import deliveries_of, settled
from tests.support.polling import eventually
from tests.support.receiver import Receiver, Reply


def events_of(receiver: Receiver, path: str) -> list[dict[str, Any]]:
    return [r.json() for r in receiver.received(path)]


class TestOperationalEvents:
    async def test_a_disabled_webhook_is_announced_to_others_but_never_to_itself(
        self, store: Store, settings: Settings, receiver: Receiver, app_id: str
    ) -> None:
        receiver.script(Reply(410), path="/gone")
        gone = await make_webhook(store, app_id, receiver.url + "/gone", events=("*",))
        pager = await make_webhook(
            store, app_id, receiver.url + "/pager", events=("webhook.disabled", "delivery.failed")
        )
        async with alerting(store, settings, retry_schedule=()):
            published = await publish(store, app_id, "job.start", {"job": {"id": 7}})
            await receiver.wait_for_async(2, path="/pager")
        by_type = {e["type"]: e["data"] for e in events_of(receiver, "/pager")}
        disabled, failed = by_type["webhook.disabled"], by_type["delivery.failed"]
        assert disabled["webhook"] == {"id": gone.id, "name": gone.name, "url": gone.url}
        assert "410 Gone" in disabled["reason"] and disabled["last_error"] == "410 Gone"
        assert failed["webhook"]["id"] == gone.id
        assert failed["delivery"]["event_id"] == published.event.id
        assert failed["delivery"]["event_type"] == "job.start"
        assert failed["delivery"]["last_status_code"] == 410
        assert failed["delivery"]["attempts"] == 1
        # The webhook the events are about (subscribed to everything) got none of them.
        assert [e["type"] for e in events_of(receiver, "/gone")] == ["job.start"]
        catalogue = {et.name: et.group for et in await store.event_types.all(app_id)}
        assert {n: catalogue[n] for n in by_type} == {
            "webhook.disabled": "hookd",
            "delivery.failed": "hookd",
        }
        assert (await store.webhooks.get(app_id, pager.id)) is not None

    async def test_delivering_an_operational_event_never_raises_another(
        self, store: Store, settings: Settings, receiver: Receiver, app_id: str
    ) -> None:
        receiver.default = Reply(500)
        first = await make_webhook(store, app_id, receiver.url + "/a", events=("*",))
        second = await make_webhook(store, app_id, receiver.url + "/b", events=("*",))
        async with alerting(store, settings, retry_schedule=()) as stack:
            await publish(store, app_id)

            async def four_failed() -> bool:
                owed = [
                    *(await deliveries_of(store, app_id, first.id)),
                    *(await deliveries_of(store, app_id, second.id)),
                ]
                return len(owed) == 4 and all(d.status is DeliveryStatus.FAILED for d in owed)

            # job.start to each, then each one's delivery.failed to the other, and no more.
            await eventually(four_failed, what="four failed deliveries")
            await stack.worker.stop()
            await stack.operational.drain()
        for webhook in (first, second):
            owed = await deliveries_of(store, app_id, webhook.id)
            types = []
            for delivery in owed:
                assert delivery.event_id is not None
                event = await store.events.get(app_id, delivery.event_id)
                assert event is not None
                types.append(event.type)
                if event.type == "delivery.failed":
                    about = orjson.loads(event.data_json)["webhook"]["id"]
                    assert about != webhook.id and about in (first.id, second.id)
            assert sorted(types) == ["delivery.failed", "job.start"]

    async def test_recovery_and_enabling_again_are_announced(
        self, store: Store, settings: Settings, receiver: Receiver, app_id: str
    ) -> None:
        receiver.script(Reply(503), path="/flaky")
        flaky = await make_webhook(store, app_id, receiver.url + "/flaky")
        await make_webhook(
            store,
            app_id,
            receiver.url + "/pager",
            events=("delivery.recovered", "webhook.enabled"),
        )
        async with alerting(store, settings, retry_schedule=()):
            published = await publish(store, app_id)
            failed = await settled(store, app_id, published.event.id, DeliveryStatus.FAILED)
            assert await store.deliveries.retry(app_id, failed.delivery.id, now=time.time())
            await settled(store, app_id, published.event.id, DeliveryStatus.SUCCEEDED)
            [recovered] = await receiver.wait_for_async(1, path="/pager")
            await store.webhooks.update(app_id, flaky.id, {"enabled": False}, time.time())
            await store.webhooks.update(app_id, flaky.id, {"enabled": True}, time.time())
            await receiver.wait_for_async(2, path="/pager")
        recovered_event, enabled_event = events_of(receiver, "/pager")
        assert recovered_event["type"] == "delivery.recovered"
        assert recovered_event["data"]["delivery"]["id"] == failed.delivery.id
        assert recovered_event["data"]["delivery"]["attempts"] == 2
        assert enabled_event["type"] == "webhook.enabled"
        assert enabled_event["data"] == {
            "webhook": {"id": flaky.id, "name": "job.start", "url": flaky.url}
        }
        assert recovered.headers["content-type"] == "application/json"
