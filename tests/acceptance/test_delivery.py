"""A user publishes events to a running hookd and a real receiver gets them."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.acceptance.conftest import create_event_type, create_webhook
from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver, Reply
from tests.support.server import HookdProcess


def delivery_with_status(api: httpx.Client, event_id: str, status: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        page = api.get("/v1/apps/default/deliveries", params={"event": event_id}).json()
        if page["data"] and page["data"][0]["status"] == status:
            detail: dict[str, Any] = api.get(
                f"/v1/apps/default/deliveries/{page['data'][0]['id']}"
            ).json()
            return detail
        return None

    return eventually_sync(check, timeout=20, what=f"delivery of {event_id} to be {status}")


class TestPublishAndDeliver:
    def test_create_publish_receive_verify(self, api: httpx.Client, receiver: Receiver) -> None:
        webhook = create_webhook(api, receiver.url + "/hooks/ci")
        secret = webhook["secret"]
        assert secret.startswith("whsec_")
        r = api.post(
            "/v1/apps/default/events", json={"type": "job.success", "data": {"job": {"id": 7}}}
        )
        assert r.status_code == 202, r.text
        published = r.json()
        assert published["id"].startswith("evt_") and published["deliveries"] == 1
        [request] = receiver.wait_for(1)
        payload = StandardWebhook(secret).verify(request.body, request.headers)
        assert payload["id"] == published["id"] and payload["data"] == {"job": {"id": 7}}
        assert payload["live"] is True and request.headers["webhook-id"] == published["id"]
        detail = delivery_with_status(api, published["id"], "succeeded")
        [attempt] = detail["attempt_log"]
        assert attempt["response"]["status"] == 200 and attempt["outcome"] == "succeeded"
        event = api.get(f"/v1/apps/default/events/{published['id']}").json()
        assert event["data"] == {"job": {"id": 7}} and event["type"] == "job.success"

    def test_500_500_200_is_three_attempts_then_succeeded(
        self, api: httpx.Client, receiver: Receiver
    ) -> None:
        receiver.script(Reply(500), Reply(500), Reply(200))
        create_webhook(api, receiver.url)
        published = api.post("/v1/apps/default/events", json={"type": "job.success"}).json()
        detail = delivery_with_status(api, published["id"], "succeeded")
        assert [a["response"]["status"] for a in detail["attempt_log"]] == [500, 500, 200]
        assert detail["attempts"] == 3
        assert len({r.headers["webhook-id"] for r in receiver.received()}) == 1

    def test_410_disables_the_webhook(self, api: httpx.Client, receiver: Receiver) -> None:
        receiver.default = Reply(410)
        webhook = create_webhook(api, receiver.url)
        published = api.post("/v1/apps/default/events", json={"type": "job.success"}).json()
        delivery_with_status(api, published["id"], "failed")
        after = api.get(f"/v1/apps/default/webhooks/{webhook['id']}").json()
        assert after["enabled"] is False and after["last_error"] == "410 Gone"
        # a disabled webhook gets no new deliveries
        again = api.post("/v1/apps/default/events", json={"type": "job.success"}).json()
        assert again["deliveries"] == 0

    def test_idempotent_publish(self, api: httpx.Client, receiver: Receiver) -> None:
        create_webhook(api, receiver.url)
        headers = {"Idempotency-Key": "order-42"}
        first = api.post("/v1/apps/default/events", json={"type": "job.success"}, headers=headers)
        second = api.post("/v1/apps/default/events", json={"type": "job.success"}, headers=headers)
        assert first.status_code == second.status_code == 202
        assert second.json()["id"] == first.json()["id"] and second.json()["duplicate"]
        by_body = api.post("/v1/apps/default/events", json={"type": "job.success", "id": "o-43"})
        again = api.post("/v1/apps/default/events", json={"type": "job.success", "id": "o-43"})
        assert again.json()["id"] == by_body.json()["id"]
        receiver.wait_for(2)
        page = api.get("/v1/apps/default/deliveries").json()
        assert len(page["data"]) == 2

    def test_batch_publish(self, api: httpx.Client, receiver: Receiver) -> None:
        create_webhook(api, receiver.url)
        events = [{"type": "job.success", "data": {"n": i}} for i in range(100)]
        r = api.post("/v1/apps/default/events/batch", json={"events": events})
        assert r.status_code == 202 and len(r.json()["data"]) == 100
        receiver.wait_for(100)
        assert sorted(q.json()["data"]["n"] for q in receiver.received()) == list(range(100))

    def test_manual_retry(self, api: httpx.Client, receiver: Receiver) -> None:
        receiver.default = Reply(404)
        create_webhook(api, receiver.url)
        published = api.post("/v1/apps/default/events", json={"type": "job.success"}).json()
        failed = delivery_with_status(api, published["id"], "failed")
        assert failed["last_error"] == "404 Not Found" and failed["attempts"] == 4
        receiver.default = Reply(200)
        r = api.post(f"/v1/apps/default/deliveries/{failed['id']}/retry")
        assert r.status_code == 202
        done = delivery_with_status(api, published["id"], "succeeded")
        assert len(done["attempt_log"]) == 5

    def test_test_send_works_while_disabled(self, api: httpx.Client, receiver: Receiver) -> None:
        create_event_type(api, "problem.update", sample={"object_id": 12345, "note": "hi"})
        webhook = create_webhook(api, receiver.url, event="problem.update", disabled=True)
        assert webhook["enabled"] is False and webhook["name"] == "problem.update"
        r = api.post(f"/v1/apps/default/webhooks/{webhook['id']}/test")
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["status"] == "succeeded"
        assert result["attempt_log"][0]["response"]["status"] == 200
        [request] = receiver.received()
        body = request.json()
        assert body["live"] is False and body["data"] == {"object_id": 12345, "note": "hi"}


class TestCrashes:
    def test_kill_9_mid_flight_then_restart_loses_nothing(
        self, hookd_factory: Callable[..., HookdProcess], receiver: Receiver
    ) -> None:
        receiver.default = Reply(200, delay=0.3)
        first = hookd_factory(lease_seconds=2).start()
        with first.client() as api:
            create_webhook(api, receiver.url)
            create_webhook(api, receiver.url)
            ids = [
                api.post("/v1/apps/default/events", json={"type": "job.success"}).json()["id"]
                for _ in range(30)
            ]
        receiver.wait_for(5)
        first.kill()
        receiver.default = Reply(200)
        second = hookd_factory(lease_seconds=2).start()
        wanted = {(i, n) for i in ids for n in range(2)}

        def all_delivered() -> bool:
            seen = {r.json()["id"] for r in receiver.received()}
            return seen >= set(ids)

        eventually_sync(all_delivered, timeout=30, what="every event delivered after restart")
        with second.client() as api:

            def settled() -> bool:
                page = api.get(
                    "/v1/apps/default/deliveries", params={"status": "succeeded", "limit": 250}
                ).json()
                return len(page["data"]) == len(wanted)

            eventually_sync(settled, timeout=30, what="all 60 deliveries succeeded")

    def test_sigterm_finishes_in_flight_attempts(
        self, hookd_factory: Callable[..., HookdProcess], receiver: Receiver
    ) -> None:
        receiver.default = Reply(200, delay=1.0)
        process = hookd_factory().start()
        with process.client() as api:
            create_webhook(api, receiver.url)
            published = api.post("/v1/apps/default/events", json={"type": "job.success"}).json()
        receiver.wait_for(1)
        # uvicorn re-raises SIGTERM after its graceful shutdown; both mean a clean stop
        assert process.stop() in (0, -signal.SIGTERM), process.output()
        assert "released" not in process.output()
        restarted = hookd_factory().start()
        with restarted.client() as api:
            detail = delivery_with_status(api, published["id"], "succeeded")
        assert len(detail["attempt_log"]) == 1  # finished before exit, not sent twice
        assert len(receiver.received()) == 1
