"""The publish fast path answers successful single-event publishes exactly as the route does.

The app runs in-process (its lifespan started, so the store and ingest are
real); requests go through the whole ASGI stack. Everything that is not a
successful publish must reach the FastAPI route and get its usual answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hookd.api.fastpath import FastPublish
from hookd.config import Settings
from tests.support.asgi import ADMIN, admin_client, served

EVENTS = "/v1/apps/default/events"


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with served(settings, worker=False, max_body_bytes=4096) as made:
        yield made


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(app) as c:
        r = await c.post("/v1/apps/default/event-types", json={"name": "job.done"})
        assert r.status_code == 201, r.text
        r = await c.post(
            "/v1/apps/default/webhooks",
            json={"url": "https://example.com/hook", "events": ["job.done"]},
        )
        assert r.status_code == 201, r.text
        yield c


def fast_path(app: FastAPI) -> FastPublish:
    layer: Any = app.middleware_stack
    while not isinstance(layer, FastPublish):
        layer = layer.app
    return layer


async def test_a_publish_is_answered_by_the_fast_path_as_the_route_would(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    r = await client.post(EVENTS, json={"type": "job.done", "data": {"n": 1}})
    assert r.status_code == 202, r.text
    assert r.headers["content-type"] == "application/json"
    answer = r.json()
    assert set(answer) == {"id", "type", "timestamp", "deliveries", "duplicate"}
    assert answer["type"] == "job.done" and answer["deliveries"] == 1
    assert answer["duplicate"] is False and answer["timestamp"].endswith("Z")
    assert fast_path(app).served == 1

    stored = await client.get(f"{EVENTS}/{answer['id']}")
    assert stored.status_code == 200 and stored.json()["data"] == {"n": 1}


async def test_idempotency_keys_work_on_the_fast_path(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first = await client.post(EVENTS, json={"type": "job.done"}, headers={"Idempotency-Key": "k1"})
    again = await client.post(EVENTS, json={"type": "job.done"}, headers={"Idempotency-Key": "k1"})
    by_body = await client.post(EVENTS, json={"type": "job.done", "id": "k1"})
    assert first.json()["id"] == again.json()["id"] == by_body.json()["id"]
    assert [r.json()["duplicate"] for r in (first, again, by_body)] == [False, True, True]
    assert fast_path(app).served == 3


async def test_a_form_labelled_body_is_read_as_json_as_the_route_does(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    r = await client.post(
        EVENTS,
        content=b'{"type": "job.done"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 202, r.text
    assert fast_path(app).served == 1


@pytest.mark.parametrize(
    ("request_kw", "status", "field"),
    [
        ({"json": {"type": "job.done", "colour": "red"}}, 422, "colour"),
        ({"json": {"type": "not a type"}}, 422, "type"),
        ({"json": {"data": {}}}, 422, "type"),
        ({"content": b"{not json"}, 400, None),
        ({"json": {"type": "job.done"}, "headers": {"Idempotency-Key": "k" * 300}}, 422, None),
        ({"json": {"type": "job.done", "data": {"x": "y" * 5000}}}, 413, None),
        ({"json": {"type": "job.done"}, "headers": {"Authorization": "Bearer nope"}}, 401, None),
        ({"json": {"type": "job.done"}, "headers": {"Authorization": ""}}, 401, None),
    ],
)
async def test_anything_else_gets_the_routes_own_error(
    app: FastAPI,
    client: httpx.AsyncClient,
    request_kw: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    r = await client.post(EVENTS, **request_kw)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] and error["message"]
    if field is not None:
        assert field in r.text
    assert fast_path(app).served == 0


async def test_an_unknown_app_is_the_routes_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/apps/nope/events", json={"type": "job.done"})
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
    assert fast_path(app).served == 0


async def test_a_repeated_header_counts_once_its_first_as_in_the_route(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first_good = [("Authorization", f"Bearer {ADMIN}"), ("Authorization", "Bearer nope")]
    r = await client.post(EVENTS, json={"type": "job.done"}, headers=first_good)
    assert r.status_code == 202, r.text
    assert fast_path(app).served == 1
    first_bad = [("Authorization", "Bearer nope"), ("Authorization", f"Bearer {ADMIN}")]
    r = await client.post(EVENTS, json={"type": "job.done"}, headers=first_bad)
    assert r.status_code == 401, r.text
    assert fast_path(app).served == 1
