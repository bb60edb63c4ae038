"""Request shaping through the API of a running hookd (issue 5)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.acceptance.conftest import create_event_type, create_webhook
from tests.support.receiver import Receiver
from tests.support.server import HookdProcess

URL = "https://example.com/hook"


def details(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 422, r.text
    return {d["field"]: d["message"] for d in r.json()["error"]["details"]}


class TestPreview:
    def test_preview_shows_the_exact_request_with_secrets_masked(self, api: httpx.Client) -> None:
        create_event_type(api, "job.complete", sample={"job": {"id": 22739, "title": "Webhooks!"}})
        webhook = create_webhook(
            api,
            URL + "/${job['id']}",
            events=["job.complete"],
            method="PUT",
            headers={"X-Title": "${job['title']}", "Authorization": "Bearer t0ken"},
            secret_headers=["Authorization"],
            body_template='{"text": "Done: ${job[\'title\']}"}',
        )
        r = api.post(f"/v1/apps/default/webhooks/{webhook['id']}/preview")
        assert r.status_code == 200, r.text
        shown = r.json()
        assert shown["method"] == "PUT" and shown["url"] == URL + "/22739"
        assert shown["body"] == '{"text": "Done: Webhooks!"}'
        assert shown["headers"]["X-Title"] == "Webhooks!"
        assert shown["headers"]["Authorization"] == "••••••"
        assert shown["headers"]["webhook-signature"].startswith("v1,")
        listed = api.get(f"/v1/apps/default/webhooks/{webhook['id']}").json()
        assert listed["headers"]["Authorization"] == "••••••"

    def test_preview_an_unsaved_webhook_with_given_data(self, api: httpx.Client) -> None:
        create_event_type(api, "job.complete")
        r = api.post(
            "/v1/apps/default/webhooks/preview",
            json={
                "webhook": {
                    "url": URL,
                    "events": ["job.complete"],
                    "content_type": "text/plain",
                    "body_template": "${job['title']} finished",
                },
                "data": {"job": {"title": "Nightly"}},
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["body"] == "Nightly finished"
        assert api.get("/v1/apps/default/webhooks").json()["data"] == []

    def test_preview_of_a_template_that_fails_is_422(self, api: httpx.Client) -> None:
        webhook = create_webhook(api, URL, body_template='{"a": "${missing}"}')
        r = api.post(f"/v1/apps/default/webhooks/{webhook['id']}/preview", json={"data": {}})
        assert "body_template" in details(r)


class TestShapingValidation:
    def test_template_that_cannot_give_json_names_line_and_column(self, api: httpx.Client) -> None:
        create_event_type(api, "job.success")
        r = api.post(
            "/v1/apps/default/webhooks",
            json={"url": URL, "events": ["job.success"], "body_template": '{\n  "a": ${x} ,,\n}'},
        )
        message = details(r)["body_template"]
        assert "line 2" in message and "column" in message

    def test_forbidden_and_bad_headers(self, api: httpx.Client) -> None:
        create_event_type(api, "job.success")
        for header in ("webhook-signature", "Content-Length", "Host"):
            r = api.post(
                "/v1/apps/default/webhooks",
                json={"url": URL, "events": ["job.success"], "headers": {header: "x"}},
            )
            assert f"headers.{header}" in details(r)
        r = api.post(
            "/v1/apps/default/webhooks",
            json={"url": URL, "events": ["job.success"], "headers": {"X-A": "${"}},
        )
        assert "headers.X-A" in details(r)

    def test_bad_filter_names_the_operator(self, api: httpx.Client) -> None:
        create_event_type(api, "job.success")
        r = api.post(
            "/v1/apps/default/webhooks",
            json={"url": URL, "events": ["job.success"], "filter": {"job.status": {"$inn": [1]}}},
        )
        assert any("$inn" in field for field in details(r))

    def test_signing_choices(self, api: httpx.Client) -> None:
        create_event_type(api, "job.success")
        both = {"signing": ["standard", "hmac-sha256-base64"]}
        r = api.post(
            "/v1/apps/default/webhooks", json={"url": URL, "events": ["job.success"], **both}
        )
        assert "signing" in details(r)
        r = api.post(
            "/v1/apps/default/webhooks",
            json={"url": URL, "events": ["job.success"], "signing": ["pgp"]},
        )
        assert "signing[0]" in details(r)
        # a plain (non-whsec) secret is fine for the schemes that use it as stored
        r = api.post(
            "/v1/apps/default/webhooks",
            json={"url": URL, "events": ["job.success"], "signing": ["github"], "secret": "plain"},
        )
        assert r.status_code == 201, r.text


class TestRotation:
    def test_rotate_secret_endpoint(self, api: httpx.Client, receiver: Receiver) -> None:
        webhook = create_webhook(api, receiver.url)
        r = api.post(f"/v1/apps/default/webhooks/{webhook['id']}/rotate-secret", json={})
        assert r.status_code == 200, r.text
        new = r.json()["secret"]
        assert new.startswith("whsec_") and new != webhook["secret"]
        assert api.get(f"/v1/apps/default/webhooks/{webhook['id']}/secret").json()["secret"] == new
        api.post("/v1/apps/default/events", json={"type": "job.success", "data": {}})
        [request] = receiver.wait_for(1)
        StandardWebhook(webhook["secret"]).verify(request.body, request.headers)
        StandardWebhook(new).verify(request.body, request.headers)


class TestChaining:
    def test_one_webhook_publishes_the_next_event(
        self, hookd: HookdProcess, api: httpx.Client, receiver: Receiver
    ) -> None:
        # The seed's "one job's webhook can start another job": webhook A calls hookd's own
        # events API with an app key in a secret header; webhook B receives the follow-up.
        key = api.post("/v1/apps/default/api-keys", json={"name": "chain"}).json()["key"]
        create_event_type(api, "job.start")
        create_event_type(api, "job.chained")
        create_webhook(
            api,
            f"{hookd.url}/v1/apps/default/events",
            events=["job.start"],
            headers={"Authorization": f"Bearer {key}"},
            secret_headers=["Authorization"],
            body_template=(
                '{"type": "job.chained", '
                '"data": {"parent": "${event.id}", "title": "${job[\'title\']}"}}'
            ),
        )
        b = create_webhook(api, receiver.url + "/b", events=["job.chained"])
        first = api.post(
            "/v1/apps/default/events", json={"type": "job.start", "data": {"job": {"title": "A"}}}
        ).json()
        [request] = receiver.wait_for(1)
        body = StandardWebhook(b["secret"]).verify(request.body, request.headers)
        assert body["type"] == "job.chained"
        assert body["data"] == {"parent": first["id"], "title": "A"}

    def test_own_url_is_allowed_without_dev_mode(
        self, hookd_factory: Callable[..., HookdProcess]
    ) -> None:
        strict = hookd_factory(dev=0).start()
        with strict.client() as api:
            create_event_type(api, "job.start")
            r = api.post(
                "/v1/apps/default/webhooks",
                json={"url": f"{strict.url}/v1/apps/default/events", "events": ["job.start"]},
            )
            assert r.status_code == 201, r.text
            other = api.post(
                "/v1/apps/default/webhooks",
                json={"url": "http://127.0.0.1:1/x", "events": ["job.start"]},
            )
            assert other.status_code == 422
