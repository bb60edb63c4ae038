"""Input a client can send that once made hookd answer 500 (issue #20): now 4xx, or kept exactly.

Every case goes through a real `hookd serve`; bodies are raw bytes so that what
the client sends is exactly what the test says (big integers, lone surrogates).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from hookd.store import Store
from tests.conftest import BACKENDS, migrate_postgres
from tests.support.receiver import Receiver
from tests.support.server import HookdProcess

BIG = 18446744073709551616  # 2**64: one past what orjson writes
DEEP_URL_TEMPLATE = "/${" + "(" * 990 + "1" + ")" * 990 + "}"
NESTED_STATEMENTS = "<% if true %>" * 100 + "x" + "<% endif %>" * 100
NESTED_PARENS = "${" + "(" * 5000 + "1" + ")" * 5000 + "}"
_apps = itertools.count()


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HookdProcess]:
    """One hookd for the module (starting one per test costs seconds); each test has an app."""
    workdir = tmp_path_factory.mktemp("hardening")
    name = None
    if request.param == "sqlite":
        db_url = f"sqlite:///{workdir / 'hookd.db'}"
    else:
        pg = request.getfixturevalue("pg_server")
        template = request.getfixturevalue("pg_template_factory")(migrate_postgres)
        name = f"hardening_{workdir.name}"
        db_url = pg.create_database(name, template=template)
    process = HookdProcess(db_url, Path(workdir)).start()
    yield process
    process.kill()
    if name is not None:
        pg.drop_database(name)


@pytest.fixture
def db_url(served: HookdProcess) -> str:
    return served.db_url


@pytest.fixture
def api(served: HookdProcess) -> Iterator[httpx.Client]:
    """A client whose paths are relative to a new app of this test's own."""
    uid = f"t{next(_apps)}"
    with served.client() as admin:
        assert admin.post("/v1/apps", json={"uid": uid}).status_code == 201
    with served.client() as client:
        client.base_url = httpx.URL(f"{served.url}/v1/apps/{uid}")
        yield client
    with served.client() as client:
        assert client.get("/healthz").status_code == 200, "hookd stopped answering"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def create_event_type(api: httpx.Client, name: str = "job.success") -> None:
    r = api.post("/event-types", json={"name": name})
    assert r.status_code in (201, 409), r.text


def create_webhook(api: httpx.Client, url: str, **kw: Any) -> dict[str, Any]:
    create_event_type(api)
    r = api.post("/webhooks", json={"url": url, "events": ["job.success"], **kw})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def send(api: httpx.Client, method: str, path: str, body: bytes | str, **kw: Any) -> httpx.Response:
    raw = body.encode() if isinstance(body, str) else body
    return api.request(
        method, path, content=raw, headers={"content-type": "application/json"}, **kw
    )


def chunked(api: httpx.Client, path: str, body: bytes) -> httpx.Response:
    """POST `body` in chunks: no Content-Length, so the publish fast path hands it to the route."""
    return api.post(path, content=iter([body]), headers={"content-type": "application/json"})


def refused(response: httpx.Response, field: str, status: int = 422) -> str:
    """Assert a JSON error naming `field`; return its message."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["details"][0]["field"] == field, error
    message: str = error["details"][0]["message"]
    return message


def deliveries_made(api: httpx.Client) -> int:
    page = api.get("/deliveries", params={"limit": 250}).json()
    return len(page["data"])


@pytest.fixture
def hook(api: httpx.Client, receiver: Receiver) -> dict[str, Any]:
    return create_webhook(api, receiver.url + "/in")


class TestUrlTemplates:
    @pytest.mark.parametrize("bad", [DEEP_URL_TEMPLATE, "/${ ( }"], ids=["nested", "syntax"])
    def test_refused_at_create_and_patch(
        self, api: httpx.Client, receiver: Receiver, bad: str
    ) -> None:
        create_event_type(api)
        r = api.post("/webhooks", json={"url": receiver.url + bad, "events": ["job.success"]})
        refused(r, "url")
        good = create_webhook(api, receiver.url)
        r = api.patch(f"/webhooks/{good['id']}", json={"url": receiver.url + bad})
        refused(r, "url")
        assert api.get(f"/webhooks/{good['id']}").json()["url"] == receiver.url
        r = api.post(
            "/webhooks/preview",
            json={"webhook": {"url": receiver.url + bad, "events": ["job.success"]}},
        )
        refused(r, "url")

    def test_a_stored_one_answers_preview_and_test_without_500(
        self, api: httpx.Client, receiver: Receiver, db_url: str
    ) -> None:
        webhook = create_webhook(api, receiver.url)

        async def store_bad_url() -> None:  # a row from before URL templates were checked
            store = await Store.open(db_url)
            try:
                app = await store.apps.get(api.base_url.path.rstrip("/").rsplit("/", 1)[-1])
                assert app is not None
                changes = {"url": receiver.url + DEEP_URL_TEMPLATE}
                assert await store.webhooks.update(app.id, webhook["id"], changes, time.time())
            finally:
                await store.close()

        asyncio.run(store_bad_url())
        r = api.post(f"/webhooks/{webhook['id']}/preview", json={})
        assert 400 <= r.status_code < 500, r.text
        assert "nested too deeply" in r.json()["error"]["message"]
        r = api.post(f"/webhooks/{webhook['id']}/test", json={})
        assert r.status_code < 500, r.text
        if r.status_code == 200:  # answered with the attempt: a recorded failure
            assert r.json()["status"] == "failed", r.text
            assert r.json()["attempt_log"][0]["error"]["code"] == "template_error"
        else:
            assert r.json()["error"]["code"]
        assert receiver.received() == []


class TestNestedTemplates:
    @pytest.mark.parametrize("source", [NESTED_STATEMENTS, NESTED_PARENS], ids=["if", "parens"])
    def test_body_template_refused_on_create_patch_preview(
        self, api: httpx.Client, hook: dict[str, Any], receiver: Receiver, source: str
    ) -> None:
        fields = {"url": receiver.url, "events": ["job.success"], "body_template": source}
        refused(api.post("/webhooks", json=fields), "body_template")
        patch = {"body_template": source}
        refused(api.patch(f"/webhooks/{hook['id']}", json=patch), "body_template")
        r = api.post("/webhooks/preview", json={"webhook": fields})
        refused(r, "body_template")

    @pytest.mark.parametrize("source", [NESTED_STATEMENTS, NESTED_PARENS], ids=["if", "parens"])
    def test_header_template_refused_on_create_patch_preview(
        self, api: httpx.Client, hook: dict[str, Any], receiver: Receiver, source: str
    ) -> None:
        fields = {"url": receiver.url, "events": ["job.success"], "headers": {"X-Deep": source}}
        refused(api.post("/webhooks", json=fields), "headers.X-Deep")
        patch = {"headers": {"X-Deep": source}}
        refused(api.patch(f"/webhooks/{hook['id']}", json=patch), "headers.X-Deep")
        r = api.post("/webhooks/preview", json={"webhook": fields})
        refused(r, "headers.X-Deep")


class TestBigIntegers:
    """Event data keeps integers of any size exactly; samples, filters and previews are 64-bit."""

    def test_delivered_exactly_and_signed(
        self, api: httpx.Client, hook: dict[str, Any], receiver: Receiver
    ) -> None:
        body = b'{"type": "job.success", "data": {"n": 18446744073709551616, "m": -%d}}' % (10**30)
        r = send(api, "POST", "/events", body)
        assert r.status_code == 202, r.text
        event_id = r.json()["id"]
        [request] = receiver.wait_for(1)
        assert b'"n":18446744073709551616' in request.body
        assert b'"m":-1000000000000000000000000000000' in request.body
        payload = StandardWebhook(hook["secret"]).verify(request.body, request.headers)
        assert payload["data"] == {"n": BIG, "m": -(10**30)}
        stored = api.get(f"/events/{event_id}")
        assert b"18446744073709551616" in stored.content
        assert stored.json()["data"]["n"] == BIG

    def test_through_the_route_and_batch(self, api: httpx.Client, hook: dict[str, Any]) -> None:
        one = b'{"type": "job.success", "data": {"n": 18446744073709551616}}'
        r = chunked(api, "/events", one)
        assert r.status_code == 202, r.text
        batch = b'{"events": [%s, %s]}' % (one, one)
        r = send(api, "POST", "/events/batch", batch)
        assert r.status_code == 202, r.text
        for published in r.json()["data"]:
            got = api.get(f"/events/{published['id']}").json()
            assert got["data"] == {"n": BIG}

    def test_filters_compare_them_exactly(self, api: httpx.Client, receiver: Receiver) -> None:
        # 2**64 + 1 read as a float would be 2**64: equal to the filter's value.
        create_webhook(api, receiver.url, filter={"n": float(BIG)})
        event = b'{"type":"job.success","data":{"n":%d}}'
        r = send(api, "POST", "/events", event % (BIG + 1))
        assert r.json()["deliveries"] == 0, r.text
        r = send(api, "POST", "/events", event % BIG)
        assert r.json()["deliveries"] == 1, r.text

    def test_samples_preview_data_and_filters_are_64_bit(
        self, api: httpx.Client, hook: dict[str, Any], receiver: Receiver
    ) -> None:
        body = b'{"name": "job.big", "sample": {"a": [1, 18446744073709551616]}}'
        assert "between" in refused(send(api, "POST", "/event-types", body), "sample.a[1]")
        assert api.get("/event-types/job.big").status_code == 404
        body = b'{"sample": {"a": 18446744073709551616}}'
        refused(send(api, "PATCH", "/event-types/job.success", body), "sample.a")
        body = b'{"data": {"a": 18446744073709551616}}'
        refused(send(api, "POST", f"/webhooks/{hook['id']}/preview", body), "data.a")
        body = b'{"filter": {"n": 18446744073709551616}}'
        refused(send(api, "PATCH", f"/webhooks/{hook['id']}", body), "filter.n")
        r = send(api, "POST", f"/webhooks/{hook['id']}/preview", b'{"data": {"a": -1}}')
        assert r.status_code == 200, r.text


class TestUnencodable:
    """Lone surrogates, NaN/Infinity, NUL in a field: 422 naming where, nothing stored."""

    @pytest.mark.parametrize(
        ("value", "why"),
        [(b'"\\ud800"', "surrogate"), (b"NaN", "finite"), (b"1e400", "finite")],
        ids=["surrogate", "nan", "overflow"],
    )
    def test_publish_fast_path_route_and_batch(
        self, api: httpx.Client, hook: dict[str, Any], receiver: Receiver, value: bytes, why: str
    ) -> None:
        one = b'{"type": "job.success", "data": {"x": {"y": [0, %s]}}}' % value
        assert why in refused(send(api, "POST", "/events", one), "data.x.y[1]")
        refused(chunked(api, "/events", one), "data.x.y[1]")
        ok = b'{"type": "job.success"}'
        batch = b'{"events": [%s, %s]}' % (ok, one)
        refused(send(api, "POST", "/events/batch", batch), "events[1].data.x.y[1]")
        assert deliveries_made(api) == 0
        assert receiver.received() == []

    def test_surrogate_keys_and_fields(
        self, api: httpx.Client, hook: dict[str, Any], receiver: Receiver
    ) -> None:
        body = b'{"type": "job.success", "data": {"a": {"\\udfff": 1}}}'
        refused(send(api, "POST", "/events", body), "data.a")
        body = b'{"name": "job.s", "sample": {"s": "\\ud800"}}'
        refused(send(api, "POST", "/event-types", body), "sample.s")
        body = b'{"description": "\\ud83d"}'
        refused(send(api, "PATCH", f"/webhooks/{hook['id']}", body), "description")
        body = b'{"name": "a\\u0000b"}'
        refused(send(api, "PATCH", f"/webhooks/{hook['id']}", body), "name")
        body = b'{"url": "%s", "events": ["job.success"], "headers": {"X-A": "\\udc00"}}' % (
            receiver.url.encode()
        )
        refused(send(api, "POST", "/webhooks", body), "headers.X-A")
        body = b'{"data": {"s": "\\ud800"}}'
        refused(send(api, "POST", f"/webhooks/{hook['id']}/preview", body), "data.s")
        assert len(api.get("/webhooks").json()["data"]) == 1


def nest(levels: int) -> bytes:
    """A JSON value `levels` deep: objects, the innermost an array."""
    return b'{"a":' * (levels - 1) + b"[0]" + b"}" * (levels - 1)


TOO_DEEP = ".a" * 64  # where the 65th level starts


class TestDepth:
    """A JSON value nests at most 64 levels (data, sample, preview data, filter)."""

    def test_64_levels_pass_65_are_refused(
        self, api: httpx.Client, hook: dict[str, Any], receiver: Receiver
    ) -> None:
        ok = b'{"type": "job.success", "data": %s}' % nest(64)
        assert send(api, "POST", "/events", ok).status_code == 202
        receiver.wait_for(1)
        deep = b'{"type": "job.success", "data": %s}' % nest(65)
        message = refused(send(api, "POST", "/events", deep), "data" + TOO_DEEP)
        assert "64 levels" in message
        refused(chunked(api, "/events", deep), "data" + TOO_DEEP)
        refused(
            send(api, "POST", "/events/batch", b'{"events": [%s]}' % deep),
            "events[0].data" + TOO_DEEP,
        )
        body = b'{"name": "job.d", "sample": %s}' % nest(65)
        refused(send(api, "POST", "/event-types", body), "sample" + TOO_DEEP)
        body = b'{"data": %s}' % nest(300)
        refused(send(api, "POST", f"/webhooks/{hook['id']}/preview", body), "data" + TOO_DEEP)
        assert deliveries_made(api) == 1

    @pytest.mark.parametrize("levels", [300, 5000, 200_000])
    def test_deeper_than_any_parser_is_422(
        self, api: httpx.Client, hook: dict[str, Any], levels: int
    ) -> None:
        body = b'{"type": "job.success", "data": {"x": %s}}' % (b"[" * levels + b"]" * levels)
        for answer in (
            send(api, "POST", "/events", body),
            chunked(api, "/events", body),
        ):
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["code"] == "validation_error"
        assert deliveries_made(api) == 0

    def test_an_integer_of_5000_digits_is_422(self, api: httpx.Client) -> None:
        body = b'{"type": "job.success", "data": {"n": %s}}' % (b"7" * 5000)
        r = send(api, "POST", "/events", body)
        assert "digits" in refused(r, "body")


class TestStrictBooleans:
    @pytest.mark.parametrize("field", ["enabled", "disabled"])
    @pytest.mark.parametrize("value", ["yes", "true", 1, "1"])
    def test_not_coerced(
        self, api: httpx.Client, hook: dict[str, Any], receiver: Receiver, field: str, value: Any
    ) -> None:
        fields = {"url": receiver.url, "events": ["job.success"], field: value}
        refused(api.post("/webhooks", json=fields), field)
        refused(api.patch(f"/webhooks/{hook['id']}", json={field: value}), field)
        assert api.get(f"/webhooks/{hook['id']}").json()["enabled"] is True
