"""9. Hostile template: one app's template runs ~1 s per event while another app publishes.

One `hookd serve` (delivering with itself and a worker child, as every
scenario) on SQLite. The app `healthy` has one webhook to the sink without a
template. The default app has one webhook to the sink whose body template
loops over `range(n)` inside `range(n)`: instant on its sample (n = 0) and
stopped at `HOOKD_TEMPLATE_MAX_SECONDS` (1 s) on real events (n = 100,000).
The circuit breaker is off (`HOOKD_CIRCUIT_AFTER_FAILURES=0`), so the hostile
load lasts the whole phase instead of pausing after 20 failures.

The harness publishes single events to the healthy app at 100/s for the
steady time (an open loop; latency from when a publish was due to its 202):
calm first, then again while publishing hostile events at 5/s. The figure is
the healthy publish p99 with the hostile template running; the baseline is
the calm p99 of the same process. The same two phases then run against a
hookd that renders in a thread (`HOOKD_TEMPLATE_PROCESSES=0`), for the record:
a thread does not keep a CPU-bound render off the event loop (the GIL).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson

from benchmarks.api import HookdApi
from benchmarks.context import Bench
from benchmarks.db import sqlite_url
from benchmarks.load import Steady, percentile, steady
from benchmarks.report import Outcome, Row, Target
from benchmarks.scenarios.latency import client
from benchmarks.stack import ADMIN_KEY, start_hookd, start_sink

NAME = "9 hostile template"
RATE = 100  # healthy publishes per second
HOSTILE_RATE = 5  # hostile events per second: more than one process renders at 1 s each
HOSTILE_N = 100_000
TEMPLATE = '<% for i in range(n) %><% for j in range(n) %><% endfor %><% endfor %>{"n": ${n}}'
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}


@dataclass
class Phases:
    calm: Steady
    hostile: Steady
    hostile_sent: int
    cpu: str = ""

    def p99(self, run: Steady) -> float:
        return percentile(run.answer_ms, 99)

    def summary(self, label: str) -> str:
        return (
            f"{label}: healthy publish p50 {percentile(self.calm.answer_ms, 50):.1f} ms,"
            f" p99 {self.p99(self.calm):.1f} ms calm;"
            f" p50 {percentile(self.hostile.answer_ms, 50):.1f} ms,"
            f" p99 {self.p99(self.hostile):.1f} ms with {self.hostile_sent} hostile events"
            f" (ratio {self.p99(self.hostile) / self.p99(self.calm):.2f}x);"
            f" {len(self.calm.answer_ms) + len(self.hostile.answer_ms):,} publishes,"
            f" {self.calm.errors + self.hostile.errors} errors; {self.cpu}"
        )


async def measure(bench: Bench, name: str, *, template_processes: int = 2) -> Phases:
    """Run the calm and the hostile phase against one hookd rendering as asked."""
    db = sqlite_url(bench.workdir(name) / "hookd.db")
    children = bench.children(name)
    with children.scope():
        sink = start_sink(children)
        api = start_hookd(
            children, db, circuit_after_failures=0, template_processes=template_processes
        )
        hostile = HookdApi(bench.session, api.url)
        await hostile.event_type("bench.hostile")
        await hostile._post(
            "/webhooks",
            {
                "url": f"{sink.url}/hook/hostile",
                "events": ["bench.hostile"],
                "body_template": TEMPLATE,
            },
        )
        async with bench.session.post(
            f"{api.url}/v1/apps",
            data=orjson.dumps({"name": "healthy", "uid": "healthy"}),
            headers=HEADERS,
        ) as response:
            if response.status != 201:
                raise RuntimeError(f"POST /v1/apps -> {response.status}: {await response.text()}")
        healthy = HookdApi(bench.session, api.url)
        healthy.base = f"{api.url}/v1/apps/healthy"
        await healthy.event_type("bench.ok")
        await healthy.webhook(f"{sink.url}/hook/healthy", ["bench.ok"])
        async with bench.measured(name, [api.child]) as usage:
            calm = await publishing(bench, f"{api.url}/v1/apps/healthy/events")
            async with hostile_load(bench, f"{api.url}/v1/apps/default/events") as sent:
                loaded = await publishing(bench, f"{api.url}/v1/apps/healthy/events")
        phases = Phases(calm, loaded, sent[0])
        phases.cpu = usage.describe()
    return phases


async def publishing(bench: Bench, url: str) -> Steady:
    """Publish healthy events at RATE for the steady time; return the open-loop run."""
    async with client(64) as session:

        async def send(i: int) -> str:
            body = orjson.dumps({"type": "bench.ok", "data": {"i": i}})
            async with session.post(url, data=body, headers=HEADERS) as response:
                answer = await response.read()
                if response.status != 202:
                    raise RuntimeError(f"{response.status} {answer[:200]!r}")
            event_id: str = orjson.loads(answer)["id"]
            return event_id

        return await steady(send, rate=RATE, seconds=bench.sizes.steady_seconds)


@contextlib.asynccontextmanager
async def hostile_load(bench: Bench, url: str) -> AsyncIterator[list[int]]:
    """Publish hostile events at HOSTILE_RATE while the block runs; yield [how many sent]."""
    sent = [0]

    async def feed() -> None:
        while True:
            body = orjson.dumps({"type": "bench.hostile", "data": {"n": HOSTILE_N}})
            async with bench.session.post(url, data=body, headers=HEADERS) as response:
                await response.read()
            sent[0] += 1
            await asyncio.sleep(1 / HOSTILE_RATE)

    task = asyncio.create_task(feed())
    await asyncio.sleep(1.5)  # the first hostile renders are under way
    try:
        yield sent
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def run(bench: Bench) -> Outcome:
    pooled = await measure(bench, "hostile")
    threaded = await measure(bench, "hostile-thread", template_processes=0)
    details = [
        pooled.summary("render processes (default)"),
        threaded.summary("renders in a thread (HOOKD_TEMPLATE_PROCESSES=0), for comparison"),
    ]
    for line in details:
        print("   " + line, flush=True)
    return Outcome(
        rows=[
            Row(
                f"{NAME} (SQLite)",
                f"healthy app's publish p99 at {RATE}/s, another app's template 1 s per event",
                pooled.p99(pooled.hostile),
                "ms",
                pooled.p99(pooled.calm),
                "calm (same process)",
                Target("ratio", "<=", 2.0, "≤ 2.00x"),
            )
        ],
        details=details,
    )
