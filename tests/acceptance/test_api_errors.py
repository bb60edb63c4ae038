"""Every documented 4xx: a clear error naming the field, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.acceptance.conftest import create_event_type, create_webhook
from tests.support.server import HookdProcess

URL = "https://example.com/hook"


def error_of(r: httpx.Response, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text
    error: dict[str, object] = r.json()["error"]
    assert error["code"] and error["message"]
    return error


@pytest.fixture
def app_key(api: httpx.Client) -> str:
    r = api.post("/v1/apps", json={"uid": "team-b", "name": "Team B"})
    assert r.status_code == 201, r.text
    key = api.post("/v1/apps/team-b/api-keys", json={"name": "ci"}).json()["key"]
    assert key.startswith("hk_")
    return str(key)


@pytest.fixture
def team_b(hookd: HookdProcess, app_key: str) -> Iterator[httpx.Client]:
    with hookd.client(app_key) as client:
        yield client


class TestAuth:
    def test_missing_and_invalid_keys_are_401(self, hookd: HookdProcess) -> None:
        assert httpx.get(f"{hookd.url}/v1/apps/default/webhooks").status_code == 401
        with hookd.client("hk_wrong") as wrong:
            error_of(wrong.get("/v1/apps/default/webhooks"), 401)
        r = httpx.get(f"{hookd.url}/v1/apps", headers={"Authorization": "Basic abc"})
        error_of(r, 401)

    def test_an_app_key_sees_its_app_and_nothing_else(
        self, api: httpx.Client, team_b: httpx.Client
    ) -> None:
        webhook = create_webhook(api, URL)
        assert team_b.get("/v1/apps/team-b/webhooks").status_code == 200
        # another app looks exactly like one that does not exist
        error_of(team_b.get("/v1/apps/default/webhooks"), 404)
        error_of(team_b.get(f"/v1/apps/default/webhooks/{webhook['id']}"), 404)
        error_of(team_b.get("/v1/apps/no-such-app/webhooks"), 404)
        assert [a["uid"] for a in team_b.get("/v1/apps").json()] == ["team-b"]
        # creating apps and keys is for the admin
        error_of(team_b.post("/v1/apps", json={"uid": "evil"}), 403)

    def test_revoked_key_stops_working(
        self, api: httpx.Client, team_b: httpx.Client, app_key: str
    ) -> None:
        [key] = api.get("/v1/apps/team-b/api-keys").json()
        assert key["prefix"] == app_key[:8] and key["key"] is None
        assert api.delete(f"/v1/apps/team-b/api-keys/{key['id']}").status_code == 204
        error_of(team_b.get("/v1/apps/team-b/webhooks"), 401)


class TestWebhookValidation:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"url": "not a url"}, "url"),
            ({"url": "ftp://example.com/x"}, "url"),
            ({"events": ["job.unknown"]}, "events[0]"),
            ({"events": ["Not An Event"]}, "events[0]"),
            ({"events": []}, "events"),
            ({"description": "x" * (64 * 1024 + 1)}, "description"),
            ({"method": "TRACE"}, "method"),
            ({"content_type": "application/xml"}, "content_type"),
            ({"headers": {"Host": "evil"}}, "headers.Host"),
            ({"headers": {"X-A": "a\r\nInjected: 1"}}, "headers.X-A"),
            ({"headers": {"bad name": "x"}}, "headers.bad name"),
            ({"mail_exceptions_to": "a@b.com, not-an-email"}, "mail_exceptions_to"),
            ({"secret": "whsec_%%%"}, "secret"),
            ({"unknown_field": 1}, "unknown_field"),
            ({"enabled": "perhaps"}, "enabled"),
            ({"uri": "https://a.example/x", "url": "https://b.example/y"}, "uri"),
        ],
    )
    def test_bad_fields_are_422_naming_the_field(
        self, api: httpx.Client, body: dict[str, object], field: str
    ) -> None:
        create_event_type(api, "job.success")
        r = api.post(
            "/v1/apps/default/webhooks", json={"url": URL, "events": ["job.success"], **body}
        )
        error = error_of(r, 422)
        assert any(d["field"] == field for d in error["details"]), error  # type: ignore[attr-defined]

    def test_http_url_needs_dev_mode(self, hookd_factory: object) -> None:
        strict = hookd_factory(dev=0).start()  # type: ignore[operator]
        with strict.client() as api:
            create_event_type(api, "job.success")
            r = api.post(
                "/v1/apps/default/webhooks",
                json={"url": "http://example.com/x", "events": ["job.success"]},
            )
            error = error_of(r, 422)
            assert "https" in str(error["message"])
            r = api.post(
                "/v1/apps/default/webhooks",
                json={"url": "https://127.0.0.1/x", "events": ["job.success"]},
            )
            error_of(r, 422)

    def test_patch_validates_too(self, api: httpx.Client) -> None:
        webhook = create_webhook(api, URL)
        error_of(api.patch(f"/v1/apps/default/webhooks/{webhook['id']}", json={"method": "X"}), 422)
        ok = api.patch(f"/v1/apps/default/webhooks/{webhook['id']}", json={"method": "put"})
        assert ok.status_code == 200 and ok.json()["method"] == "PUT"

    def test_unknown_webhook_is_404(self, api: httpx.Client) -> None:
        error_of(api.get("/v1/apps/default/webhooks/wh_nope"), 404)
        error_of(api.delete("/v1/apps/default/webhooks/wh_nope"), 404)
        error_of(api.post("/v1/apps/default/webhooks/wh_nope/test"), 404)
        error_of(api.get("/v1/apps/default/deliveries/dlv_nope"), 404)
        error_of(api.get("/v1/apps/default/events/evt_nope"), 404)


class TestPublishValidation:
    def test_curl_style_form_label_is_read_as_json(self, api: httpx.Client) -> None:
        # `curl -d '{…}'` labels a JSON body as a form; the API takes it as JSON.
        for kind in ("application/x-www-form-urlencoded", None):
            headers = {"Content-Type": kind} if kind else {}
            r = api.post(
                "/v1/apps/default/event-types", content=b'{"name": "job.curl"}', headers=headers
            )
            assert r.status_code in (201, 409), r.text

    def test_bad_json_is_400(self, api: httpx.Client) -> None:
        r = api.post(
            "/v1/apps/default/events",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        error_of(r, 400)

    def test_bad_type_and_data(self, api: httpx.Client) -> None:
        error = error_of(api.post("/v1/apps/default/events", json={"type": "nope"}), 422)
        assert "type" in str(error["message"])
        error = error_of(
            api.post("/v1/apps/default/events", json={"type": "job.x", "data": [1]}), 422
        )
        assert any(d["field"] == "data" for d in error["details"])  # type: ignore[attr-defined]
        error_of(api.post("/v1/apps/default/events", json={}), 422)

    def test_body_over_the_limit_is_413(self, api: httpx.Client) -> None:
        big = {"type": "job.success", "data": {"blob": "x" * (1024 * 1024)}}
        error_of(api.post("/v1/apps/default/events", json=big), 413)

    def test_batch_over_1000_is_422(self, api: httpx.Client) -> None:
        events = [{"type": "job.success"}] * 1001
        error_of(api.post("/v1/apps/default/events/batch", json={"events": events}), 422)

    def test_duplicate_event_type_is_409(self, api: httpx.Client) -> None:
        create_event_type(api, "job.start")
        r = api.post("/v1/apps/default/event-types", json={"name": "job.start"})
        error_of(r, 409)
        r = api.post("/v1/apps/default/event-types", json={"name": "JobStart"})
        error_of(r, 422)

    def test_bad_delivery_status_filter_is_422(self, api: httpx.Client) -> None:
        error_of(api.get("/v1/apps/default/deliveries", params={"status": "lost"}), 422)
        error_of(api.get("/v1/apps/default/deliveries", params={"limit": 0}), 422)


class TestSecrets:
    def test_secret_is_write_only_after_create(self, api: httpx.Client) -> None:
        secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3"
        webhook = create_webhook(api, URL, secret=secret)
        assert webhook["secret"] == secret
        listed = api.get("/v1/apps/default/webhooks").text
        read = api.get(f"/v1/apps/default/webhooks/{webhook['id']}").text
        assert secret not in listed and secret not in read
        assert "secret" not in api.get(f"/v1/apps/default/webhooks/{webhook['id']}").json()
        got = api.get(f"/v1/apps/default/webhooks/{webhook['id']}/secret").json()
        assert got == {"secret": secret}

    def test_secrets_never_reach_the_log(self, hookd: HookdProcess, api: httpx.Client) -> None:
        secret = "whsec_" + "c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhay0xMjM0"
        create_webhook(api, URL, secret=secret)
        api.post("/v1/apps/default/events", json={"type": "job.success"})
        assert hookd.admin_key
        output = hookd.output()
        assert secret not in output and hookd.admin_key not in output

    def test_null_secret_means_unsigned(self, api: httpx.Client) -> None:
        webhook = create_webhook(api, URL, secret=None)
        assert webhook["secret"] is None and webhook["signed"] is False


class TestAdminKey:
    def test_generated_once_printed_once(self, hookd_factory: object) -> None:
        first = hookd_factory(admin_key=None).start()  # type: ignore[operator]
        key = first.printed_admin_key()
        assert key and key.startswith("hk_")
        with first.client(key) as api:
            assert api.get("/v1/apps").status_code == 200
        first.stop()
        second = hookd_factory(admin_key=None).start()  # type: ignore[operator]
        assert second.printed_admin_key() is None
        with second.client(key) as api:
            assert api.get("/v1/apps").status_code == 200
