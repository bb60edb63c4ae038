"""2. Ingest: how many events per second the API stores.

`hookd serve --no-worker` (so delivery does not share the CPU) with 10
webhooks, one event type each; every event is owed to one of them, so each
publish writes an event and a delivery. Single-event `POST …/events` from 64
concurrent connections, then `POST …/events/batch` with 100 events per call
from 8. The client is the harness process (aiohttp on uvloop) and runs a short
warm-up first. The baseline is the same routes in a bare FastAPI app served by
uvicorn the same way, with hookd's own pydantic models and no auth or storage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from benchmarks.api import APP, HookdApi, event_data
from benchmarks.context import Bench
from benchmarks.db import sqlite_url
from benchmarks.load import Closed, closed_loop
from benchmarks.procs import Child, free_port, python
from benchmarks.report import Outcome, Row, Target
from benchmarks.stack import ADMIN_KEY, start_hookd

NAME = "2 ingest"
WARM_UP = 200


@dataclass
class Ingested:
    single: Closed
    batch: Closed
    batch_size: int
    cpu: str = ""

    @property
    def batch_events(self) -> float:
        return self.batch.rate * self.batch_size


def _body(i: int, webhooks: int) -> dict[str, Any]:
    return {"type": f"bench.e{i % webhooks}", "data": event_data(i)}


async def measure(bench: Bench, base_url: str) -> Ingested:
    """Load `base_url`'s publish routes: single events, then batches."""
    sizes = bench.sizes
    events = f"{base_url}/v1/apps/{APP}/events"
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
    single_bodies = [orjson.dumps(_body(i, sizes.webhooks)) for i in range(sizes.ingest_single)]
    batch_bodies = [
        orjson.dumps(
            {
                "events": [
                    _body(b * sizes.batch_size + j, sizes.webhooks) for j in range(sizes.batch_size)
                ]
            }
        )
        for b in range(sizes.ingest_batches)
    ]

    def poster(
        session: aiohttp.ClientSession, url: str, bodies: list[bytes]
    ) -> Callable[[int], Awaitable[None]]:
        async def send(i: int) -> None:
            async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as response:
                await response.read()
                if response.status != 202:
                    raise RuntimeError(f"{response.status}")

        return send

    connector = aiohttp.TCPConnector(limit=sizes.ingest_concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        send_single = poster(session, events, single_bodies)
        await closed_loop(
            send_single, total=WARM_UP, concurrency=sizes.ingest_concurrency, seconds=30
        )
        single = await closed_loop(
            send_single,
            total=sizes.ingest_single,
            concurrency=sizes.ingest_concurrency,
            seconds=sizes.time_limit,
        )
        batch = await closed_loop(
            poster(session, f"{events}/batch", batch_bodies),
            total=sizes.ingest_batches,
            concurrency=sizes.batch_concurrency,
            seconds=sizes.time_limit,
        )
    for what, result in (("single", single), ("batch", batch)):
        if result.errors:
            raise RuntimeError(f"{what} ingest: {result.errors} errors, e.g. {result.error_sample}")
    return Ingested(single, batch, sizes.batch_size)


async def measure_hookd(bench: Bench, db: str, name: str = "ingest") -> Ingested:
    children = bench.children(name)
    with children.scope():
        api = start_hookd(children, db, worker=False)
        hookd = HookdApi(bench.session, api.url)
        types = [f"bench.e{i}" for i in range(bench.sizes.webhooks)]
        # Nobody listens there: the worker is off, the deliveries only get written.
        await hookd.one_per_type("http://127.0.0.1:9", types)
        async with bench.measured(name, [api.child]) as usage:
            found = await measure(bench, api.url)
    found.cpu = usage.describe()
    return found


@dataclass
class Bare:
    single: float
    batch: float
    cpu_share: float


async def measure_bare(bench: Bench) -> Bare:
    """Load the bare FastAPI app as hookd is loaded."""
    children = bench.children("bare-api")
    with children.scope():
        port = free_port()
        child = Child(
            "bare-api",
            python("-m", "benchmarks.baselines.bare_api", "--port", str(port)),
            log=children.workdir / "bare-api.log",
        )
        children.start(child).wait_http(f"http://127.0.0.1:{port}/healthz")
        async with bench.measured("bare-api", [child]) as usage:
            bare = await measure(bench, f"http://127.0.0.1:{port}")
    return Bare(bare.single.rate, bare.batch_events, usage.cpu["bare-api"] / usage.seconds)


def share_bare(bench: Bench, runs: list[Bare]) -> None:
    """Record the bare route's figures (the mean of the runs given) as `bare.*`."""
    n = len(runs)
    bench.shared["bare.single"] = sum(r.single for r in runs) / n
    bench.shared["bare.batch"] = sum(r.batch for r in runs) / n
    bench.shared["bare.cpu"] = sum(r.cpu_share for r in runs) / n
    bench.shared["bare.runs"] = n


def rows(scenario: str, hookd: Ingested, bench: Bench) -> list[Row]:
    return [
        Row(
            scenario,
            "single-event publish, concurrency 64",
            hookd.single.rate,
            "events/s",
            bench.shared["bare.single"],
            "bare FastAPI",
            Target("ratio", ">=", 0.5, "≥ 0.50x"),
        ),
        Row(
            scenario,
            f"batch publish, {hookd.batch_size} per call",
            hookd.batch_events,
            "events/s",
            bench.shared["bare.batch"],
            "bare FastAPI",
            Target("value", ">=", 20_000, "≥ 20,000/s"),
        ),
    ]


async def run(bench: Bench) -> Outcome:
    db = sqlite_url(bench.workdir("ingest") / "hookd.db")
    # The baseline runs before and after hookd, so drifting load moves both alike.
    before = await measure_bare(bench)
    hookd = await measure_hookd(bench, db)
    share_bare(bench, [before, await measure_bare(bench)])
    outcome = Outcome(rows=rows(f"{NAME} (SQLite)", hookd, bench))
    outcome.details = details(hookd, bench)
    return outcome


def details(hookd: Ingested, bench: Bench) -> list[str]:
    sizes = bench.sizes
    return [
        f"single: {hookd.single.completed:,} calls in {hookd.single.seconds:.1f} s;"
        f" batch: {hookd.batch.completed:,} calls of {sizes.batch_size}"
        f" in {hookd.batch.seconds:.1f} s",
        f"bare FastAPI: single {bench.shared['bare.single']:,.0f}/s,"
        f" batch {bench.shared['bare.batch']:,.0f} events/s"
        f" (its CPU {bench.shared['bare.cpu']:.0%} of a core"
        + (", mean of runs before and after hookd)" if bench.shared["bare.runs"] > 1 else ")"),
        f"hookd {hookd.cpu}",
    ]
