"""3. End-to-end latency: publish at a steady rate, time each event to the sink.

One `hookd serve` (on PostgreSQL: an API and two workers) with 10 webhooks,
one event type each. The harness publishes single events at 200/s, then at
1,000/s, for 30 s each (an open loop: it does not wait for answers before the
next call), each event owed to one webhook. Latency runs from the moment a
publish was due to the moment the sink read the request (its `webhook-id` is
the event id). The baseline is the same open loop posting the envelopes
straight to the sink: the floor set by the client, the sink and the machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import orjson

from benchmarks.api import APP, HookdApi, event_data
from benchmarks.context import Bench
from benchmarks.db import sqlite_url
from benchmarks.load import Steady, latencies_ms, percentile, steady, wait_for
from benchmarks.report import Outcome, Row, Target
from benchmarks.stack import ADMIN_KEY, Sink, start_hookd, start_sink
from hookd import ids
from hookd.domain.envelope import envelope_from_raw

NAME = "3 end-to-end latency"
TARGET_P99_MS = {200: 50.0, 1000: 250.0}
SETTLE_SECONDS = 30.0  # how long to wait for stragglers after the last publish


@dataclass
class Latency:
    rate: int
    run: Steady
    e2e_ms: list[float]
    expected: int
    cpu: str = ""

    def p(self, pct: float) -> float:
        """Return a percentile, counting events never received as infinitely late."""
        return percentile(self.e2e_ms + [math.inf] * max(self.missing, 0), pct)

    @property
    def missing(self) -> int:
        return self.expected - len(self.e2e_ms)

    def summary(self, label: str) -> str:
        publish = percentile(self.run.answer_ms, 99)
        text = (
            f"{label} at {self.rate}/s: p50 {_ms(self.p(50))}, p95 {_ms(self.p(95))},"
            f" p99 {_ms(self.p(99))}, slowest received {percentile(self.e2e_ms, 100):,.1f} ms,"
            f" over {len(self.e2e_ms):,} deliveries received (an event never received counts"
            f" as infinitely late); publishes sent at {self.run.achieved:,.0f}/s"
        )
        if not math.isnan(publish) and label != "direct":
            text += f"; publish answered p99 {publish:.1f} ms"
        if self.missing or self.run.errors or self.run.skipped:
            text += (
                f"; {self.missing:,} not received, {self.run.errors} publish errors"
                f" {self.run.error_sample!r}, {self.run.skipped} not sent (too many outstanding)"
            )
        if self.cpu:
            text += f"; {self.cpu}"
        return text


def _ms(value: float) -> str:
    return "not received" if math.isinf(value) else f"{value:,.1f} ms"


def client(connections: int = 512) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))


async def collect(
    bench: Bench, sink: Sink, run: Steady, wanted: Callable[[str], bool] = lambda _: True
) -> Latency:
    """Wait for the sink to have every wanted event (bounded), then match receipts."""
    expected = sum(1 for event_id in run.due if wanted(event_id))

    async def arrived() -> bool:
        return (await sink.stats(bench.session))["count"] >= expected

    settle = 10.0 if bench.quick else SETTLE_SECONDS
    await wait_for(arrived, seconds=settle, every=0.2)
    due = {k: v for k, v in run.due.items() if wanted(k)}
    return Latency(
        int(run.rate), run, latencies_ms(due, await sink.receipts(bench.session)), expected
    )


async def through_hookd(
    bench: Bench,
    api_url: str,
    sink: Sink,
    rate: int,
    healthy: Callable[[int], bool] = lambda _: True,
) -> Latency:
    """Publish single events at `rate` and time them to `sink` (events with healthy(i))."""
    webhooks = bench.sizes.webhooks
    url = f"{api_url}/v1/apps/{APP}/events"
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
    healthy_ids: set[str] = set()
    await sink.reset(bench.session)
    async with client() as session:

        async def send(i: int) -> str:
            body = orjson.dumps({"type": f"bench.e{i % webhooks}", "data": event_data(i)})
            async with session.post(url, data=body, headers=headers) as response:
                answer = await response.read()
                if response.status != 202:
                    raise RuntimeError(f"{response.status} {answer[:200]!r}")
            event_id: str = orjson.loads(answer)["id"]
            if healthy(i):
                healthy_ids.add(event_id)
            return event_id

        run = await steady(send, rate=rate, seconds=bench.sizes.steady_seconds)
    return await collect(bench, sink, run, healthy_ids.__contains__)


async def direct(bench: Bench, sink: Sink, rate: int) -> Latency:
    """The floor: the same open loop posting envelopes straight to the sink."""
    webhooks = bench.sizes.webhooks
    await sink.reset(bench.session)
    async with client() as session:

        async def send(i: int) -> str:
            event_id = ids.new_id("evt")
            data = orjson.dumps(event_data(i))
            body = envelope_from_raw(event_id, f"bench.e{i % webhooks}", 0.0, True, data)
            headers = {"content-type": "application/json", "webhook-id": event_id}
            async with session.post(
                f"{sink.url}/hook/{i % webhooks}", data=body, headers=headers
            ) as r:
                await r.read()
            return event_id

        run = await steady(send, rate=rate, seconds=bench.sizes.steady_seconds)
    return await collect(bench, sink, run)


async def measure_hookd(
    bench: Bench, db: str, *, workers: int = 0, name: str = "latency"
) -> dict[int, Latency]:
    """Latency at each rate through one `hookd serve` (workers=0) or an API and workers."""
    sizes = bench.sizes
    children = bench.children(name)
    found: dict[int, Latency] = {}
    with children.scope():
        sink = start_sink(children)
        api = start_hookd(children, db, worker=not workers)
        processes = [api] + [start_hookd(children, db, command="worker") for _ in range(workers)]
        hookd = HookdApi(bench.session, api.url)
        types = [f"bench.e{i}" for i in range(sizes.webhooks)]
        await hookd.one_per_type(sink.url, types)
        for rate in sizes.rates:
            async with bench.measured(f"{name}-{rate}", [p.child for p in processes]) as usage:
                found[rate] = await through_hookd(bench, api.url, sink, rate)
            found[rate].cpu = usage.describe()
    return found


async def measure_direct(bench: Bench) -> None:
    """Figures `direct.p99.RATE` for every rate of this run."""
    children = bench.children("direct")
    with children.scope():
        sink = start_sink(children)
        for rate in bench.sizes.rates:
            floor = await direct(bench, sink, rate)
            bench.shared[f"direct.p99.{rate}"] = floor.p(99)
            bench.shared[f"direct.p50.{rate}"] = floor.p(50)
            bench.shared[f"direct.missing.{rate}"] = floor.missing


def rows(scenario: str, found: dict[int, Latency], bench: Bench) -> list[Row]:
    out = []
    for rate, latency in found.items():
        limit = TARGET_P99_MS.get(rate)
        target = Target("value", "<=", limit, f"≤ {limit:g} ms") if limit else None
        out.append(
            Row(
                scenario,
                f"p99 publish→sink at {rate}/s",
                latency.p(99),
                "ms",
                bench.shared.get(f"direct.p99.{rate}"),
                "direct to sink",
                target,
            )
        )
    return out


async def measure_sqlite(bench: Bench) -> dict[int, Latency]:
    """Scenario 3 on SQLite; shares `latency.p99.RATE` for the noisy-neighbour comparison."""
    found = await measure_hookd(bench, sqlite_url(bench.workdir("latency") / "hookd.db"))
    for rate, latency in found.items():
        bench.shared[f"latency.p99.{rate}"] = latency.p(99)
    return found


async def run(bench: Bench) -> Outcome:
    found = await measure_sqlite(bench)
    await bench.figure(f"direct.p99.{bench.sizes.rates[0]}", lambda: measure_direct(bench))
    outcome = Outcome(rows=rows(f"{NAME} (SQLite)", found, bench))
    outcome.details = [latency.summary("hookd") for latency in found.values()]
    outcome.details += [
        f"direct to sink at {rate}/s: p50 {bench.shared[f'direct.p50.{rate}']:.1f} ms,"
        f" p99 {bench.shared[f'direct.p99.{rate}']:.1f} ms"
        for rate in found
    ]
    return outcome
