"""One app's slow template cannot slow the others: renders run in render processes.

hookd runs in-process with its worker, API and worker on one event loop as in
`hookd serve`. One app's webhook has a template that is fast on the sample
and runs for seconds on real data (nested loops over `range(n)`); while its
deliveries render, another app publishes, and its publishes stay fast.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial
from statistics import median
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hookd.config import Settings
from hookd.delivery import rendering
from hookd.delivery.request import OutgoingRequest, RenderError, System
from tests.support.asgi import admin_client, served
from tests.support.polling import eventually
from tests.support.receiver import Receiver

HOSTILE_APP = "/v1/apps/default"
HOSTILE = '<% for i in range(n) %><% for j in range(n) %><% endfor %><% endfor %>{"ok": true}'
CIRCUIT_AFTER = 3


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with served(
        settings,
        worker=True,
        template_max_seconds=1.0,
        circuit_after_failures=CIRCUIT_AFTER,
        retry_schedule=(0.05,) * 5,
    ) as made:
        yield made


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(app, timeout=30) as c:
        yield c


async def setup_app(client: httpx.AsyncClient, base: str, url: str, **fields: Any) -> str:
    r = await client.post(f"{base}/event-types", json={"name": "job.done"})
    assert r.status_code == 201, r.text
    r = await client.post(f"{base}/webhooks", json={"url": url, "events": ["job.done"], **fields})
    assert r.status_code == 201, r.text
    webhook_id: str = r.json()["id"]
    return webhook_id


async def publishes(client: httpx.AsyncClient, base: str, *, seconds: float) -> list[float]:
    """Publish one event after another for `seconds`; return each one's latency in ms."""
    latencies: list[float] = []
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        started = time.perf_counter()
        r = await client.post(f"{base}/events", json={"type": "job.done", "data": {"ok": True}})
        latencies.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 202, r.text
    return latencies


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


class TestHostileTemplate:
    async def test_other_apps_publish_fast_while_it_renders_and_it_is_paused(
        self, client: httpx.AsyncClient, receiver: Receiver
    ) -> None:
        hostile = await setup_app(
            client, HOSTILE_APP, receiver.url + "/hostile", body_template=HOSTILE
        )
        r = await client.post("/v1/apps", json={"name": "healthy", "uid": "healthy"})
        assert r.status_code == 201, r.text
        healthy_app = "/v1/apps/healthy"
        await setup_app(client, healthy_app, receiver.url + "/healthy")

        calm = await publishes(client, healthy_app, seconds=1.0)
        for i in range(3):
            r = await client.post(
                f"{HOSTILE_APP}/events", json={"type": "job.done", "data": {"n": 100_000, "i": i}}
            )
            assert r.status_code == 202, r.text

        async def rendering_now() -> bool:
            r = await client.get(f"{HOSTILE_APP}/deliveries", params={"status": "sending"})
            return bool(r.json()["data"])

        await eventually(rendering_now, what="the hostile deliveries to be claimed")
        # Three 1 s renders, back to back (one app's renders take turns).
        latencies = await publishes(client, healthy_app, seconds=3.0)
        assert len(latencies) >= 20
        assert p99(latencies) < 250, f"healthy publish p99 {p99(latencies):.0f} ms"
        # Rendering in a thread passes that bound, but takes the GIL from the loop
        # at every switch: its median publish was ~10x calm (21 vs 2 ms), here ~1x.
        assert median(latencies) < 3 * median(calm) + 5, (median(calm), median(latencies))

        # The healthy app's events are delivered; the hostile ones fail as template timeouts.
        await receiver.wait_for_async(len(calm) + len(latencies), path="/healthy", timeout=20)

        async def paused() -> dict[str, Any] | None:
            shown = (await client.get(f"{HOSTILE_APP}/webhooks/{hostile}")).json()
            return shown if shown.get("circuit_open_until") else None

        shown = await eventually(paused, timeout=30, what="the hostile webhook's circuit to open")
        assert "took longer than 1 s" in shown["last_error"]
        r = await client.get(f"{HOSTILE_APP}/deliveries", params={"webhook": hostile})
        attempted = [d for d in r.json()["data"] if d["attempts"]]
        assert attempted
        detail = (await client.get(f"{HOSTILE_APP}/deliveries/{attempted[0]['id']}")).json()
        errors = [a["error"] for a in detail["attempt_log"]]
        assert errors and all(e["code"] == "template_error" for e in errors)
        assert all("took longer than 1 s" in e["message"] for e in errors)
        assert receiver.received(path="/hostile") == []

    async def test_a_preview_of_the_hostile_template_answers_within_the_limit(
        self, client: httpx.AsyncClient, receiver: Receiver
    ) -> None:
        hostile = await setup_app(client, HOSTILE_APP, receiver.url, body_template=HOSTILE)
        started = time.monotonic()
        r = await client.post(
            f"{HOSTILE_APP}/webhooks/{hostile}/preview", json={"data": {"n": 100_000}}
        )
        assert r.status_code == 422, r.text
        assert "took longer than 1 s" in r.json()["error"]["message"]
        assert time.monotonic() - started < 10


# Built from what a render process has imported already, so that nothing but the
# job itself counts against the limit: no template check can stop a sleep.
_SLEEP = partial(time.sleep, 30)
_QUICK = partial(OutgoingRequest, "POST", "https://example.com/ok", {}, b"")


class TestRenderProcesses:
    async def test_a_render_past_the_limit_is_killed_and_the_next_one_works(self) -> None:
        system = System(url="http://hookd.test", max_seconds=0.5)
        started = time.monotonic()
        with pytest.raises(RenderError, match=r"took longer than 0.5 s; it was stopped"):
            await rendering.render(_SLEEP, "app_limit", system)  # type: ignore[arg-type]
        assert time.monotonic() - started < 0.5 + rendering.GRACE + 5  # start-up included
        after = await rendering.render(_QUICK, "app_limit", system)
        assert after.url == "https://example.com/ok"

    async def test_a_slow_app_queues_only_so_long_and_others_render_meanwhile(self) -> None:
        system = System(url="http://hookd.test", max_seconds=0.2, render_processes=2)
        slow = partial(time.sleep, 0.15)  # within the limit, but slow: 1 s of queue is ~6
        await rendering.render(slow, "app_slow", system)  # type: ignore[arg-type]
        queued = [
            asyncio.ensure_future(rendering.render(slow, "app_slow", system))  # type: ignore[arg-type]
            for _ in range(12)
        ]
        await asyncio.sleep(0)  # let them all ask for their turn
        started = time.monotonic()
        other = await rendering.render(_QUICK, "app_other", system)
        assert other.url == "https://example.com/ok"
        assert time.monotonic() - started < 0.5  # not behind the slow app's queue
        results = await asyncio.gather(*queued, return_exceptions=True)
        refused = [r for r in results if isinstance(r, RenderError)]
        assert 3 <= len(refused) <= 8, results
        assert all("render slowly" in str(r) for r in refused)
