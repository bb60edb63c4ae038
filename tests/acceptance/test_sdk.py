"""hookd.client against a live `hookd serve`: the API sync and async; verify() on deliveries."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hookd.client import AsyncClient, Client, HookdError, InvalidSignature, verify
from tests.support.receiver import Receiver, Request
from tests.support.server import ADMIN_KEY, HookdProcess


@pytest.fixture(scope="module")
def hookd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HookdProcess]:
    tmp = tmp_path_factory.mktemp("sdk")
    with HookdProcess(f"sqlite:///{tmp / 'hookd.db'}", tmp) as process:
        yield process


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def client(hookd: HookdProcess) -> Iterator[Client]:
    with Client(hookd.url, ADMIN_KEY) as c:
        if "job.success" not in [t["name"] for t in c.list_event_types()]:
            c.create_event_type("job.success", sample={"job": {"id": 1, "title": "Nightly"}})
        yield c


def delivered(receiver: Receiver, path: str, count: int = 1) -> list[Request]:
    receiver.wait_for(count, path=path, timeout=15)
    return receiver.received(path)


class TestClient:
    def test_publish_is_idempotent_with_a_key(self, client: Client, receiver: Receiver) -> None:
        client.create_webhook(f"{receiver.url}/idem", ["job.*"])
        first = client.publish("job.success", {"job": {"id": 7}}, idempotency_key="job-7")
        again = client.publish("job.success", {"job": {"id": 7}}, idempotency_key="job-7")
        assert first["id"].startswith("evt_") and first["deliveries"] >= 1
        assert not first["duplicate"]
        assert again["id"] == first["id"] and again["duplicate"]
        assert client.get_event(first["id"])["data"] == {"job": {"id": 7}}

    def test_batch_publish_answers_each_event_in_order(self, client: Client) -> None:
        results = client.publish_batch(
            [{"type": "job.success", "data": {"n": 1}}, {"type": "job.success", "data": {"n": 2}}]
        )
        assert [client.get_event(r["id"])["data"]["n"] for r in results] == [1, 2]

    def test_event_types(self, client: Client) -> None:
        client.create_event_type("build.finish", group="Builds", sample={"build": 1})
        assert client.get_event_type("build.finish")["group"] == "Builds"
        changed = client.update_event_type("build.finish", description="A build ended.")
        assert changed["description"] == "A build ended."
        assert "build.finish" in [t["name"] for t in client.list_event_types()]
        client.delete_event_type("build.finish")
        with pytest.raises(HookdError) as gone:
            client.get_event_type("build.finish")
        assert gone.value.status == 404 and gone.value.code == "not_found"

    def test_webhooks_crud_test_and_secrets(self, client: Client, receiver: Receiver) -> None:
        created = client.create_webhook(f"{receiver.url}/crud", ["job.success"], name="crud")
        wid, secret = created["id"], created["secret"]
        assert secret and secret.startswith("whsec_")
        assert client.get_webhook(wid)["name"] == "crud"
        assert wid in [w["id"] for w in client.list_webhooks(limit=250)["data"]]
        assert client.update_webhook(wid, enabled=False)["enabled"] is False
        assert client.get_webhook_secret(wid) == secret

        tested = client.test_webhook(wid)  # works while disabled
        assert tested["attempt_log"][0]["response"]["status"] == 200  # type: ignore[index]
        [request] = delivered(receiver, "/crud")
        assert request.json()["live"] is False
        assert verify(request.body, request.headers, secret) == "standard"

        rotated = client.rotate_webhook_secret(wid, grace_seconds=60)
        assert rotated and rotated != secret
        assert client.get_webhook_secret(wid) == rotated
        with pytest.raises(HookdError) as hmac_only:
            client.get_public_key(wid)
        assert hmac_only.value.status == 404

        client.delete_webhook(wid)
        with pytest.raises(HookdError) as gone:
            client.get_webhook(wid)
        assert gone.value.code == "not_found"

    def test_deliveries_attempts_retry_cancel_recover(
        self, client: Client, receiver: Receiver
    ) -> None:
        wid = client.create_webhook(f"{receiver.url}/deliv", ["job.success"])["id"]
        published = client.publish("job.success", {"job": {"id": 9}})
        delivered(receiver, "/deliv")

        def succeeded() -> Any:
            page = client.list_deliveries(webhook=wid, status="succeeded")["data"]
            return page or None

        [delivery] = _eventually(succeeded)
        assert delivery["event_id"] == published["id"]
        assert client.get_delivery(delivery["id"])["status"] == "succeeded"
        [attempt] = client.list_attempts(delivery["id"])
        assert attempt["outcome"] == "succeeded"

        with pytest.raises(HookdError) as finished:
            client.cancel_delivery(delivery["id"])
        assert finished.value.status == 409 and finished.value.code == "conflict"

        retried = client.retry_delivery(delivery["id"])
        assert retried["id"] == delivery["id"]
        delivered(receiver, "/deliv", 2)

        since = datetime.now(UTC) - timedelta(hours=1)
        recovered = client.recover(wid, since)
        assert recovered["webhook_id"] == wid and recovered["recovered"] == 0

    def test_errors_carry_code_message_details_and_status(self, hookd: HookdProcess) -> None:
        with Client(hookd.url, ADMIN_KEY) as client, pytest.raises(HookdError) as invalid:
            client.create_webhook("", ["job.success"])
        assert invalid.value.status == 422 and invalid.value.code == "validation_error"
        assert invalid.value.details[0]["field"] == "url"
        assert "url" in invalid.value.message

        with Client(hookd.url, "hk_not_a_key") as stranger, pytest.raises(HookdError) as denied:
            stranger.list_webhooks()
        assert denied.value.status == 401 and denied.value.code == "unauthorized"

        with Client("http://127.0.0.1:9", ADMIN_KEY) as nowhere, pytest.raises(HookdError) as down:
            nowhere.list_event_types()
        assert down.value.status == 0 and down.value.code == "unreachable"

    def test_another_app_is_a_constructor_argument(self, hookd: HookdProcess) -> None:
        with (
            Client(hookd.url, ADMIN_KEY, app="no-such-app") as client,
            pytest.raises(HookdError) as missing,
        ):
            client.list_event_types()
        assert missing.value.status == 404


def _eventually(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while (value := check()) is None:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


async def test_async_client_covers_the_same_calls(hookd: HookdProcess, receiver: Receiver) -> None:
    async with AsyncClient(hookd.url, ADMIN_KEY) as client:
        if "job.success" not in [t["name"] for t in await client.list_event_types()]:
            await client.create_event_type("job.success", sample={"job": {"id": 1}})
        webhook = await client.create_webhook(f"{receiver.url}/async", ["job.*"])
        first = await client.publish("job.success", {"n": 1}, idempotency_key="async-1")
        again = await client.publish("job.success", {"n": 1}, idempotency_key="async-1")
        assert again["duplicate"] and again["id"] == first["id"]
        [batch] = await client.publish_batch([{"type": "job.success", "data": {"n": 2}}])
        assert (await client.get_event(batch["id"]))["data"] == {"n": 2}
        await receiver.wait_for_async(2, path="/async", timeout=15)
        page = await client.list_deliveries(webhook=webhook["id"])
        assert {d["event_id"] for d in page["data"]} == {first["id"], batch["id"]}
        detail = await client.get_delivery(page["data"][0]["id"])
        assert detail["webhook_id"] == webhook["id"]
        assert (await client.update_webhook(webhook["id"], name="renamed"))["name"] == "renamed"
        with pytest.raises(HookdError) as missing:
            await client.get_webhook("wh_missing")
        assert missing.value.status == 404
        await client.delete_webhook(webhook["id"])


def test_sync_and_async_clients_offer_the_same_methods() -> None:
    public = {n for n in dir(Client) if not n.startswith("_")}
    assert public == {n for n in dir(AsyncClient) if not n.startswith("_")}
    assert {"publish", "publish_batch", "recover", "cancel_delivery", "list_attempts"} <= public


class TestVerify:
    """A receiver checks real deliveries; tampering and replays are refused, saying why."""

    def deliver(
        self, client: Client, receiver: Receiver, path: str, **fields: Any
    ) -> tuple[Request, dict[str, Any]]:
        webhook = client.create_webhook(f"{receiver.url}{path}", ["job.success"], **fields)
        client.publish("job.success", {"job": {"id": 42}})
        [request] = delivered(receiver, path)
        return request, dict(webhook)

    def test_standard_hmac(self, client: Client, receiver: Receiver) -> None:
        request, webhook = self.deliver(client, receiver, "/v-standard")
        secret = webhook["secret"]
        assert verify(request.body, request.headers, secret) == "standard"
        with pytest.raises(InvalidSignature, match="no v1 signature matches"):
            verify(request.body.replace(b"42", b"43"), request.headers, secret)
        with pytest.raises(InvalidSignature, match="s old"):
            verify(request.body, request.headers, secret, now=time.time() + 301)
        with pytest.raises(InvalidSignature, match="no v1 signature matches"):
            verify(request.body, request.headers, "whsec_" + "A" * 44)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "webhook-timestamp"}
        with pytest.raises(InvalidSignature, match="missing webhook-timestamp"):
            verify(request.body, headers, secret)

    def test_ed25519_with_the_public_key(self, client: Client, receiver: Receiver) -> None:
        request, webhook = self.deliver(client, receiver, "/v-ed25519", signing=["ed25519"])
        public = client.get_public_key(webhook["id"])["public_key"]
        assert public == webhook["public_key"]
        assert verify(request.body, request.headers, public) == "ed25519"
        with pytest.raises(InvalidSignature, match="no v1a signature matches"):
            verify(request.body + b" ", request.headers, public)
        with pytest.raises(InvalidSignature, match="s old"):
            verify(request.body, request.headers, public, now=time.time() + 600)
        with pytest.raises(InvalidSignature, match="public key"):
            verify(request.body, request.headers, webhook["secret"])  # the private key: refused

    @pytest.mark.parametrize(
        ("scheme", "header"),
        [
            ("hmac-sha256-base64", "webhook-signature"),
            ("github", "x-hub-signature-256"),
        ],
    )
    def test_the_other_schemes(
        self, client: Client, receiver: Receiver, scheme: str, header: str
    ) -> None:
        request, webhook = self.deliver(client, receiver, f"/v-{scheme}", signing=[scheme])
        assert header in {k.lower() for k in request.headers}
        assert verify(request.body, request.headers, webhook["secret"]) == scheme
        with pytest.raises(InvalidSignature, match="does not match"):
            verify(request.body[:-1], request.headers, webhook["secret"])

    def test_both_secrets_verify_during_a_rotation(
        self, client: Client, receiver: Receiver
    ) -> None:
        webhook = client.create_webhook(f"{receiver.url}/v-rotate", ["job.success"])
        old = webhook["secret"]
        new = client.rotate_webhook_secret(webhook["id"], grace_seconds=600)
        client.publish("job.success", {"job": {"id": 1}})
        [request] = delivered(receiver, "/v-rotate")
        assert old and new
        assert verify(request.body, request.headers, old) == "standard"
        assert verify(request.body, request.headers, new) == "standard"

    def test_unsigned_requests_are_refused(self) -> None:
        with pytest.raises(InvalidSignature, match="no signature header"):
            verify(b"{}", {"content-type": "application/json"}, "whsec_" + "A" * 44)


def test_verify_needs_no_http_client(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['httpx'] = None\n"
        "from hookd.client import verify, InvalidSignature\n"
        "try:\n    verify(b'{}', {}, 'whsec_x')\nexcept InvalidSignature as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "no signature header" in done.stdout
