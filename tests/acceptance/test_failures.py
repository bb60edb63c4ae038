"""A running hookd when endpoints fail: recovery and cancel over the API, owners e-mailed,
other webhooks told."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.acceptance.conftest import create_event_type, create_webhook
from tests.acceptance.test_delivery import delivery_with_status
from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver, Reply
from tests.support.server import HookdProcess
from tests.support.smtp import SmtpSink

H = "/v1/apps/default"


def parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as smtp:
        yield smtp


class TestRecoverAndCancel:
    def test_recover_a_window_then_cancel_what_waits(
        self, api: httpx.Client, receiver: Receiver
    ) -> None:
        receiver.default = Reply(503)
        webhook = create_webhook(api, receiver.url + "/flaky")
        since = time.time()
        published = api.post(f"{H}/events", json={"type": "job.success"}).json()
        failed = delivery_with_status(api, published["id"], "failed")
        assert failed["attempts"] == 4
        receiver.default = Reply(200)
        r = api.post(f"{H}/webhooks/{webhook['id']}/recover", json={"since": rfc3339(since - 1)})
        assert r.status_code == 202, r.text
        assert r.json()["recovered"] == 1 and r.json()["webhook_id"] == webhook["id"]
        done = delivery_with_status(api, published["id"], "succeeded")
        assert [a["outcome"] for a in done["attempt_log"]][-1] == "succeeded"
        # Recovered: the last error stays, and when it happened says it is old.
        health = api.get(f"{H}/webhooks/{webhook['id']}").json()
        assert health["failure_streak"] == 0 and health["last_error"] == "503 Service Unavailable"
        assert since <= parse(health["last_error_at"]) < parse(health["last_success_at"])
        # Nothing left to recover; bad windows and unknown webhooks say what is wrong.
        again = api.post(f"{H}/webhooks/{webhook['id']}/recover", json={"since": rfc3339(since)})
        assert again.json()["recovered"] == 0
        naive = api.post(
            f"{H}/webhooks/{webhook['id']}/recover", json={"since": "2026-01-01T00:00:00"}
        )
        assert naive.status_code == 422 and naive.json()["error"]["details"][0]["field"] == "since"
        empty = api.post(
            f"{H}/webhooks/{webhook['id']}/recover",
            json={"since": rfc3339(since), "until": rfc3339(since - 60)},
        )
        assert empty.status_code == 422 and empty.json()["error"]["details"][0]["field"] == "until"
        missing = api.post(f"{H}/webhooks/wh_nope/recover", json={"since": rfc3339(since)})
        assert missing.status_code == 404
        # A delivery that waits (here: for a batch flush) can be cancelled, once.
        create_webhook(api, receiver.url + "/later", mode="queued")
        queued = api.post(f"{H}/events", json={"type": "job.success"}).json()
        page = api.get(f"{H}/deliveries", params={"event": queued["id"], "status": "queued"})
        [waiting] = page.json()["data"]
        r = api.post(f"{H}/deliveries/{waiting['id']}/cancel")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        twice = api.post(f"{H}/deliveries/{waiting['id']}/cancel")
        assert twice.status_code == 409 and "cancelled" in twice.json()["error"]["message"]
        finished = api.post(f"{H}/deliveries/{done['id']}/cancel")
        assert finished.status_code == 409 and "succeeded" in finished.json()["error"]["message"]
        assert api.post(f"{H}/deliveries/dlv_nope/cancel").status_code == 404


class TestOwnersAndOthersAreTold:
    def test_a_digest_e_mail_and_operational_events(
        self, hookd_factory: Callable[..., HookdProcess], receiver: Receiver, sink: SmtpSink
    ) -> None:
        process = hookd_factory(smtp_url=sink.url, mail_interval=5).start()
        with process.client() as api:
            # hookd's own event types are in the catalogue, ready to subscribe to.
            types = {t["name"]: t["group"] for t in api.get(f"{H}/event-types").json()}
            assert {n: types.get(n) for n in ("webhook.disabled", "delivery.failed")} == {
                "webhook.disabled": "hookd",
                "delivery.failed": "hookd",
            }
            create_event_type(api, "job.success")
            receiver.script(*(Reply(410) for _ in range(3)), path="/gone")
            receiver.default = Reply(500)
            gone = create_webhook(api, receiver.url + "/gone", mail_exceptions_to="a@example.com")
            broken = create_webhook(
                api, receiver.url + "/broken", mail_exceptions_to="b@example.com"
            )
            receiver.script(*(Reply(200) for _ in range(10)), path="/pager")
            create_webhook(
                api, receiver.url + "/pager", events=["webhook.disabled", "delivery.failed"]
            )
            events = [{"type": "job.success", "data": {"n": n}} for n in range(3)]
            assert api.post(f"{H}/events/batch", json={"events": events}).status_code == 202
            messages = sink.wait_for(2, timeout=20)

            def pager_heard() -> list[tuple[str, str]] | None:
                heard = [
                    (r.json()["type"], r.json()["data"]["webhook"]["id"])
                    for r in receiver.received("/pager")
                ]
                told = heard.count(("delivery.failed", broken["id"])) == 3
                return heard if told and ("webhook.disabled", gone["id"]) in heard else None

            heard = eventually_sync(pager_heard, timeout=20, what="the operational events")
            after = api.get(f"{H}/webhooks/{gone['id']}").json()
        by_to = {m["To"]: m for m in messages}
        assert by_to["a@example.com"]["Subject"] == '[hookd] webhook "job.success" disabled'
        assert by_to["b@example.com"]["Subject"] == (
            '[hookd] 3 deliveries failed for webhook "job.success"'
        )
        assert "Failed deliveries (3)" in by_to["b@example.com"].get_content()
        # Each failure of the broken one; the gone one's disabling, and its failures: the
        # first, plus any already on their way when it was disabled (the rest wait, parked).
        assert heard.count(("webhook.disabled", gone["id"])) == 1
        assert 1 <= heard.count(("delivery.failed", gone["id"])) <= 3
        assert len(heard) == 4 + heard.count(("delivery.failed", gone["id"]))
        assert after["enabled"] is False and after["last_error"] == "410 Gone"
        assert "410 Gone" in after["disabled_reason"]
