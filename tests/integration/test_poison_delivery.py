"""No input makes a delivery un-finishable: every fault becomes a recorded failed attempt.

hookd runs in-process with its worker (as `hookd serve`); faults are injected
into preparing, sending and settling, and a stored URL template that breaks
Python's parser stands for an old row that validation would refuse today.
Each test reads the outcome as a user does: `GET …/deliveries/{id}`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hookd import ids
from hookd.config import Settings
from hookd.delivery import attempt as attempt_module
from hookd.delivery.sender import Sender
from hookd.domain.models import Webhook
from hookd.runtime import Runtime
from tests.support.asgi import admin_client, served
from tests.support.polling import eventually
from tests.support.receiver import Receiver

APP = "/v1/apps/default"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# The URL of issue 20: nesting past Python's recursion limit inside `${…}`.
DEEP_URL = "https://example.com/${" + "(" * 990 + "1" + ")" * 990 + "}"


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with served(settings, worker=True, circuit_after_failures=0) as made:
        yield made


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(app) as c:
        r = await c.post(f"{APP}/event-types", json={"name": "job.done"})
        assert r.status_code == 201, r.text
        yield c


def runtime(app: FastAPI) -> Runtime:
    found: Runtime = app.state.runtime
    return found


async def webhook(client: httpx.AsyncClient, url: str, **fields: Any) -> dict[str, Any]:
    r = await client.post(
        f"{APP}/webhooks", json={"url": url, "events": ["job.done"], "secret": SECRET, **fields}
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def publish(client: httpx.AsyncClient, data: dict[str, Any] | None = None) -> str:
    r = await client.post(f"{APP}/events", json={"type": "job.done", "data": data or {"n": 1}})
    assert r.status_code == 202, r.text
    event_id: str = r.json()["id"]
    return event_id


async def finished(client: httpx.AsyncClient, event_id: str) -> dict[str, Any]:
    """Wait until the event's delivery is finished; return it with its attempts (the API's view)."""

    async def check() -> dict[str, Any] | None:
        r = await client.get(f"{APP}/deliveries", params={"event": event_id})
        assert r.status_code == 200, r.text
        [delivery] = r.json()["data"]
        if delivery["status"] not in ("failed", "succeeded"):
            return None
        detail = await client.get(f"{APP}/deliveries/{delivery['id']}")
        assert detail.status_code == 200, detail.text
        found: dict[str, Any] = detail.json()
        return found

    return await eventually(check, timeout=20, what=f"the delivery of {event_id} to finish")


def failing(exc: BaseException) -> Callable[..., Any]:
    def build(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return build


class TestFaultsInPreparing:
    async def test_a_bug_in_building_the_request_is_a_logged_internal_error_attempt(
        self,
        client: httpx.AsyncClient,
        receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        monkeypatch.setattr(attempt_module, "build_request", failing(RuntimeError("boom")))
        await webhook(client, receiver.url)
        with caplog.at_level(logging.ERROR, logger="hookd"):
            detail = await finished(client, await publish(client))
        assert detail["status"] == "failed"
        attempts = detail["attempt_log"]
        assert len(attempts) == 4  # the retry schedule of the test settings: 3 retries
        assert [a["outcome"] for a in attempts] == ["retry", "retry", "retry", "failed"]
        for a in attempts:
            assert a["error"]["code"] == "internal_error"
            assert "preparing the request" in a["error"]["message"]
            assert "RuntimeError" in a["error"]["message"]
        assert receiver.requests == []
        bugs = [r for r in caplog.records if r.exc_info and "preparing the request" in r.message]
        assert len(bugs) == 4  # one line (with its traceback) per attempt
        assert all(SECRET not in r.getMessage() for r in caplog.records)

    async def test_recursion_while_building_is_a_template_error_in_words(
        self, client: httpx.AsyncClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(attempt_module, "build_request", failing(RecursionError("deep")))
        created = await webhook(client, receiver.url)
        detail = await finished(client, await publish(client))
        assert detail["status"] == "failed"
        assert {a["error"]["code"] for a in detail["attempt_log"]} == {"template_error"}
        assert "template nested too deeply" in detail["attempt_log"][0]["error"]["message"]
        shown = (await client.get(f"{APP}/webhooks/{created['id']}")).json()
        assert "nested too deeply" in shown["last_error"]

    async def test_a_bug_in_the_sender_is_an_internal_error_attempt(
        self, client: httpx.AsyncClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def send(self: Sender, request: object) -> object:
            raise KeyError("connector")

        monkeypatch.setattr(Sender, "send", send)
        await webhook(client, receiver.url)
        detail = await finished(client, await publish(client))
        assert detail["status"] == "failed" and len(detail["attempt_log"]) == 4
        first = detail["attempt_log"][0]
        assert first["error"]["code"] == "internal_error"
        assert "sending the request" in first["error"]["message"]

    async def test_a_bug_in_settling_still_records_a_failed_attempt(
        self, client: httpx.AsyncClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(attempt_module, "settle", failing(ValueError("settle")))
        await webhook(client, receiver.url)
        detail = await finished(client, await publish(client))
        assert detail["status"] == "failed" and len(detail["attempt_log"]) == 4
        assert {a["error"]["code"] for a in detail["attempt_log"]} == {"internal_error"}
        assert "settling" in detail["attempt_log"][-1]["error"]["message"]


class TestStoredPoison:
    async def test_an_old_row_with_a_url_too_deep_to_parse_fails_with_attempts(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        # Straight through the store, as a row written before URLs were checked.
        now = time.time()
        row = Webhook(
            id=ids.new_id("wh"),
            app_id=(await client.get(APP)).json()["id"],
            name="job.done",
            url=DEEP_URL,
            events=("job.done",),
            created_at=now,
            updated_at=now,
        )
        await runtime(app).store.webhooks.create(row)
        detail = await finished(client, await publish(client))
        assert detail["status"] == "failed" and len(detail["attempt_log"]) == 4
        for a in detail["attempt_log"]:
            assert a["error"]["code"] == "template_error"
            assert "nested too deeply" in a["error"]["message"]
        shown = (await client.get(f"{APP}/webhooks/{row.id}")).json()
        assert "nested too deeply" in shown["last_error"]
        # Preview and a test send answer with words, not a 500.
        preview = await client.post(f"{APP}/webhooks/{row.id}/preview", json={})
        assert preview.status_code == 422, preview.text
        assert "nested too deeply" in preview.json()["error"]["message"]
        tested = await client.post(f"{APP}/webhooks/{row.id}/test", json={})
        assert tested.status_code < 500, tested.text
        assert "nested too deeply" in tested.text

    async def test_nothing_stays_sending(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        now = time.time()
        app_id = (await client.get(APP)).json()["id"]
        for _ in range(3):
            await runtime(app).store.webhooks.create(
                Webhook(
                    id=ids.new_id("wh"),
                    app_id=app_id,
                    name="job.done",
                    url=DEEP_URL,
                    events=("job.done",),
                    created_at=now,
                    updated_at=now,
                )
            )
        events = [await publish(client, {"n": i}) for i in range(5)]

        async def all_failed() -> bool:
            r = await client.get(f"{APP}/deliveries", params={"limit": 100})
            statuses = [d["status"] for d in r.json()["data"]]
            return len(statuses) == 15 and set(statuses) == {"failed"}

        await eventually(all_failed, timeout=30, what="every delivery to fail")
        for event_id in events:
            r = await client.get(f"{APP}/deliveries", params={"event": event_id})
            assert all(d["attempts"] == 4 for d in r.json()["data"])
