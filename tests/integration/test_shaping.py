"""Request shaping through the real worker to a real receiver (issue 5)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from hookd.config import Settings
from hookd.delivery.ingest import EventIn, Ingest
from hookd.delivery.worker import Worker
from hookd.domain.models import App, DeliveryStatus, Webhook
from hookd.service.event_types import EventTypeService
from hookd.service.webhooks import WebhookService
from hookd.store import Store
from tests.support.polling import eventually
from tests.support.receiver import Receiver

SLACK_TEMPLATE = (
    "{\n\"text\": \"Job Complete!: ${system['fqdn']} - ${job['title']}\\n"
    "https://${system['fqdn']}/#!/job/${job['id']}\"\n}"
)
SEED_DATA = {"job": {"title": "Webhooks!", "id": 22739}}


@pytest.fixture
async def app(store: Store) -> App:
    return await store.apps.ensure_default(time.time())


@pytest.fixture
def shaping(store: Store, settings: Settings) -> Settings:
    return settings.model_copy(update={"public_url": "https://stage.zuarbase.net"})


@pytest.fixture
async def make(store: Store, shaping: Settings, app: App) -> Callable[..., Any]:
    """Create a webhook through the service (validated as the API would)."""
    types = EventTypeService(store)
    for name in ("job.complete", "job.status"):
        await types.create(app, name, "Jobs", "", None)
    service = WebhookService(store, shaping)

    async def create(url: str, **fields: Any) -> Webhook:
        fields.setdefault("events", ["job.complete"])
        return await service.create(app, {"url": url, **fields})

    return create


@pytest.fixture
async def running(start_worker: Callable[..., Worker], shaping: Settings) -> Worker:
    return start_worker(public_url=shaping.public_url)


async def publish(
    store: Store, settings: Settings, app: App, data: Any, type_: str = "job.complete"
) -> str:
    [published] = await Ingest(store, settings).publish(app.id, [EventIn(type_, data)])
    return published.event.id


class TestTemplates:
    async def test_seed_slack_example_renders_exactly(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
    ) -> None:
        await make(receiver.url, body_template=SLACK_TEMPLATE)
        await publish(store, shaping, app, SEED_DATA)
        [request] = await receiver.wait_for_async(1)
        assert request.json() == {
            "text": "Job Complete!: stage.zuarbase.net - Webhooks!\n"
            "https://stage.zuarbase.net/#!/job/22739"
        }

    @pytest.mark.parametrize(
        "title", ['He said "hi"', "two\nlines", "back\\slash", "brace } and ${x}", "ünïcödé ✓"]
    )
    async def test_any_title_still_gives_valid_json(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
        title: str,
    ) -> None:
        await make(receiver.url, body_template='{"title": "${job[\'title\']}", "job": ${job}}')
        await publish(store, shaping, app, {"job": {"title": title, "id": 1}})
        [request] = await receiver.wait_for_async(1)
        assert request.json() == {"title": title, "job": {"title": title, "id": 1}}

    async def test_missing_key_is_an_attempt_error_not_a_blank(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        start_worker: Callable[..., Worker],
        receiver: Receiver,
    ) -> None:
        start_worker(retry_schedule=())
        await make(receiver.url, body_template='{"t": "${job[\'nope\']}"}')
        event_id = await publish(store, shaping, app, SEED_DATA)

        async def failed() -> Any:
            page = await store.deliveries.page(app.id, limit=1, event_id=event_id)
            d = page.items[0]
            return (
                await store.deliveries.get(app.id, d.id)
                if d.status is DeliveryStatus.FAILED
                else None
            )

        detail = await eventually(failed, what="the delivery to fail")
        assert detail.attempts[0].error_code == "template_error"
        assert "nope" in (detail.attempts[0].error_message or "")
        assert receiver.received() == []

    async def test_render_size_limit_is_a_setting(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        start_worker: Callable[..., Worker],
        receiver: Receiver,
    ) -> None:
        start_worker(retry_schedule=(), template_max_bytes=100)
        await make(receiver.url, content_type="text/plain", body_template="${job['title']}")
        event_id = await publish(store, shaping, app, {"job": {"title": "x" * 500}})

        async def failed() -> Any:
            page = await store.deliveries.page(app.id, limit=1, event_id=event_id)
            d = page.items[0]
            done = d.status is DeliveryStatus.FAILED
            return await store.deliveries.get(app.id, d.id) if done else None

        detail = await eventually(failed, what="the oversized render to fail")
        assert detail.attempts[0].error_code == "template_error"
        assert receiver.received() == []


class TestMethodsAndContentTypes:
    @pytest.mark.parametrize("method", ["GET", "DELETE"])
    async def test_bodyless_methods_carry_data_in_the_url(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
        method: str,
    ) -> None:
        await make(receiver.url + "/jobs/${job['id']}?title=${job['title']}", method=method)
        await publish(store, shaping, app, {"job": {"id": 7, "title": "a&b=c d"}})
        [request] = await receiver.wait_for_async(1)
        assert request.method == method and request.body == b""
        path, _, query = request.path.partition("?")
        assert path == "/jobs/7"
        assert urllib.parse.parse_qs(query) == {"title": ["a&b=c d"]}

    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
    async def test_body_methods(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
        method: str,
    ) -> None:
        await make(receiver.url, method=method)
        await publish(store, shaping, app, SEED_DATA)
        [request] = await receiver.wait_for_async(1)
        assert request.method == method and request.json()["data"] == SEED_DATA

    async def test_form_from_a_json_object_template(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
    ) -> None:
        await make(
            receiver.url,
            content_type="application/x-www-form-urlencoded",
            body_template='{"title": "${job[\'title\']}", "id": ${job[\'id\']}}',
        )
        await publish(store, shaping, app, {"job": {"title": "x&y=z", "id": 5}})
        [request] = await receiver.wait_for_async(1)
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert urllib.parse.parse_qs(request.body.decode()) == {"title": ["x&y=z"], "id": ["5"]}

    async def test_form_from_key_value_lines(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
    ) -> None:
        await make(
            receiver.url,
            content_type="application/x-www-form-urlencoded",
            body_template="title=${job['title']}\nid=${job['id']}",
        )
        await publish(store, shaping, app, {"job": {"title": "x&y=z", "id": 5}})
        [request] = await receiver.wait_for_async(1)
        assert urllib.parse.parse_qs(request.body.decode()) == {"title": ["x&y=z"], "id": ["5"]}

    async def test_form_without_template_flattens_the_envelope(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
    ) -> None:
        await make(receiver.url, content_type="application/x-www-form-urlencoded")
        event_id = await publish(store, shaping, app, SEED_DATA)
        [request] = await receiver.wait_for_async(1)
        form = urllib.parse.parse_qs(request.body.decode())
        assert form["id"] == [event_id] and form["type"] == ["job.complete"]
        assert json.loads(form["data"][0]) == SEED_DATA

    async def test_text_plain(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
    ) -> None:
        await make(
            receiver.url, content_type="text/plain", body_template="Job ${job['title']} done\n"
        )
        await publish(store, shaping, app, SEED_DATA)
        [request] = await receiver.wait_for_async(1)
        assert request.headers["content-type"] == "text/plain"
        assert request.body == b"Job Webhooks! done\n"


class TestHeaders:
    async def test_templated_and_secret_headers(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
    ) -> None:
        await make(
            receiver.url,
            headers={"X-Job": "${job['id']}", "Authorization": "Bearer s3cr3t-token"},
            secret_headers=["Authorization"],
        )
        event_id = await publish(store, shaping, app, SEED_DATA)
        [request] = await receiver.wait_for_async(1)
        assert request.headers["x-job"] == "22739"
        assert request.headers["authorization"] == "Bearer s3cr3t-token"

        async def logged() -> Any:
            page = await store.deliveries.page(app.id, limit=1, event_id=event_id)
            detail = await store.deliveries.get(app.id, page.items[0].id)
            return detail if detail and detail.attempts else None

        detail = await eventually(logged, what="the attempt to be logged")
        assert "s3cr3t-token" not in json.dumps(detail.attempts[0].request_headers)
        assert detail.attempts[0].request_headers["Authorization"] == "••••••"


class TestSigning:
    async def test_mautic_base64_scheme_verifies_independently(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
    ) -> None:
        secret = "mautic-shared-secret"
        await make(receiver.url, secret=secret, signing=["hmac-sha256-base64"])
        await publish(store, shaping, app, SEED_DATA)
        [request] = await receiver.wait_for_async(1)
        expected = base64.b64encode(
            hmac.new(secret.encode(), request.body, hashlib.sha256).digest()
        ).decode()
        assert request.headers["webhook-signature"] == expected
        assert "webhook-id" not in request.headers

    async def test_github_scheme_verifies_independently(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
    ) -> None:
        secret = "It's a Secret to Everybody"
        await make(receiver.url, secret=secret, signing=["github"])
        await publish(store, shaping, app, SEED_DATA)
        [request] = await receiver.wait_for_async(1)
        digest = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-hub-signature-256"] == f"sha256={digest}"

    async def test_null_secret_sends_no_signature(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
    ) -> None:
        await make(receiver.url, secret=None)
        await publish(store, shaping, app, SEED_DATA)
        [request] = await receiver.wait_for_async(1)
        assert not {"webhook-signature", "webhook-id", "x-hub-signature-256"} & set(request.headers)

    async def test_rotation_before_during_after(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
    ) -> None:
        service = WebhookService(store, shaping)
        webhook = await make(receiver.url)
        first = webhook.secret
        await publish(store, shaping, app, {"n": 1})
        [before] = await receiver.wait_for_async(1)
        StandardWebhook(first).verify(before.body, before.headers)

        rotated = await service.rotate_secret(app, webhook.id, secret=None, grace_seconds=3600)
        second = rotated.secret
        assert second and second != first
        await publish(store, shaping, app, {"n": 2})
        during = (await receiver.wait_for_async(2))[1]
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        StandardWebhook(first).verify(during.body, during.headers)
        StandardWebhook(second).verify(during.body, during.headers)

        # the grace period ends (moved into the past rather than waited for)
        ended = tuple(replace(o, expires_at=time.time() - 1) for o in rotated.old_secrets)
        await store.webhooks.update(app.id, webhook.id, {"old_secrets": ended}, time.time())
        await publish(store, shaping, app, {"n": 3})
        after = (await receiver.wait_for_async(3))[2]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(first).verify(after.body, after.headers)
        StandardWebhook(second).verify(after.body, after.headers)

    async def test_rotating_with_no_grace_stops_the_old_secret_at_once(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
    ) -> None:
        webhook = await make(receiver.url)
        rotated = await WebhookService(store, shaping).rotate_secret(
            app, webhook.id, secret=None, grace_seconds=0
        )
        await publish(store, shaping, app, {"n": 1})
        [request] = await receiver.wait_for_async(1)
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(webhook.secret).verify(request.body, request.headers)
        StandardWebhook(rotated.secret).verify(request.body, request.headers)


class TestFilters:
    async def test_only_matching_events_are_sent(
        self,
        store: Store,
        shaping: Settings,
        app: App,
        make: Any,
        running: Worker,
        receiver: Receiver,
    ) -> None:
        await make(receiver.url + "/one", filter={"job.id": 22739})
        await make(
            receiver.url + "/bad",
            events=["job.*"],
            filter={"job.status": {"$in": ["failed", "error"]}},
        )
        await publish(store, shaping, app, {"job": {"id": 22739, "status": "ok"}})
        await publish(store, shaping, app, {"job": {"id": 1, "status": "failed"}})
        await publish(store, shaping, app, {"job": {"id": 2, "status": "error"}}, "job.status")
        await publish(store, shaping, app, {"job": {"id": 3, "status": "ok"}}, "job.status")
        await receiver.wait_for_async(3)
        one = [r.json()["data"]["job"]["id"] for r in receiver.received("/one")]
        bad = sorted(r.json()["data"]["job"]["id"] for r in receiver.received("/bad"))
        assert one == [22739] and bad == [1, 2]
