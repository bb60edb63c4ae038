"""10. Sustained mixed load, default settings: publish and deliver at once, for a minute.

One `hookd serve` with nothing set but what the harness needs (--dev, an admin
key, warnings-only logs): it delivers with one process per usable core, on
SQLite and then on PostgreSQL (a throwaway server, as in scenario 8). 10
signed webhooks, one event type each; every event is owed to one webhook.

    max      one publisher posts batches of 100 events as fast as they are
             answered, holding back while more than BACKLOG deliveries wait,
             for MAX seconds; delivered/s is the sink's receipt rate after a
             warm-up. The bare aiohttp+uvloop client (baselines/raw_client.py)
             posts to the same sink just before and just after; the ratio is
             against their mean.
    steady   once that backlog is delivered, events are published at half the
             max rate for STEADY seconds (>= 60 in a full run), in an open
             loop: a fifth as single events, the rest in batches of 50.
             Publish latency runs from when a call was due to its answer;
             delivery lag from when an event's publish was due to the sink's
             receipt (an event never received counts as infinitely late).

The resident memory of serve and its delivery children (summed VmRSS) is
sampled through both phases.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

from benchmarks.api import APP, HookdApi, event_data
from benchmarks.context import Bench
from benchmarks.db import sqlite_url
from benchmarks.load import percentile
from benchmarks.procs import Child
from benchmarks.report import Outcome, Row, Target
from benchmarks.scenarios import throughput
from benchmarks.stack import ADMIN_KEY, Sink, start_hookd, start_sink
from hookd.config import usable_cores

NAME = "10 sustained mixed"
WEBHOOKS = 10
MAX_BATCH = 100
BACKLOG = 20_000  # deliveries waiting at most while measuring the max rate
STEADY_BATCH = 50
SINGLE_SHARE = 0.2  # of the steady events, published one per call
TARGET_RATIO = {"SQLite": 0.60, "PostgreSQL": 0.50}
TARGET_LAG_P99_MS = 1000.0


@dataclass
class Found:
    backend: str
    max_rate: float = 0.0
    max_cpu_us: float = 0.0  # hookd CPU (publishing included) per delivery, max phase
    published_max: int = 0
    steady_rate: float = 0.0  # events/s asked for
    steady_published: int = 0
    steady_delivered_rate: float = 0.0
    publish_single_ms: list[float] = field(default_factory=list)
    publish_batch_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    missing: int = 0
    errors: int = 0
    error_sample: str = ""
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MiB)
    processes: int = 0

    def lag(self, pct: float) -> float:
        return percentile(self.lag_ms + [math.inf] * self.missing, pct)


def family(pid: int) -> list[int]:
    """Return `pid` and its live descendants."""
    out = [pid]
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            for kid in (task / "children").read_text().split():
                out += family(int(kid))
    return out


def rss_mib(pid: int) -> float:
    """Return the summed resident set (VmRSS) of `pid` and its descendants, in MiB."""
    total = 0
    for member in family(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


async def sample_rss(child: Child, found: Found, every: float, began: float) -> None:
    while True:
        found.rss.append((time.perf_counter() - began, rss_mib(child.pid)))
        await asyncio.sleep(every)


class Publisher:
    """Prepared publish calls on one hookd API (no JSON encoding of set-up per call)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.events_url = f"{base_url}/v1/apps/{APP}/events"
        self.batch_url = f"{self.events_url}/batch"
        self.headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
        self.next = 0

    def _items(self, n: int) -> list[dict[str, object]]:
        first, self.next = self.next, self.next + n
        return [
            {"type": f"bench.e{i % WEBHOOKS}", "data": event_data(i)}
            for i in range(first, first + n)
        ]

    async def single(self) -> list[str]:
        body = orjson.dumps(self._items(1)[0])
        async with self.session.post(self.events_url, data=body, headers=self.headers) as r:
            payload = await r.read()
            if r.status != 202:
                raise RuntimeError(f"publish -> {r.status}: {payload[:300]!r}")
        return [orjson.loads(payload)["id"]]

    async def batch(self, n: int) -> list[str]:
        body = orjson.dumps({"events": self._items(n)})
        async with self.session.post(self.batch_url, data=body, headers=self.headers) as r:
            payload = await r.read()
            if r.status != 202:
                raise RuntimeError(f"publish batch -> {r.status}: {payload[:300]!r}")
        return [p["id"] for p in orjson.loads(payload)["data"]]


async def max_phase(
    bench: Bench, sink: Sink, publisher: Publisher, hookd: Child, found: Found, seconds: float
) -> None:
    """Publish batches while delivering, as fast as delivery goes; measure delivered/s."""
    session = bench.session
    received = int((await sink.stats(session))["count"])
    published = 0
    deadline = time.perf_counter() + seconds
    warm = min(2.0, seconds / 4)

    async def publish() -> None:
        nonlocal published
        while time.perf_counter() < deadline:
            if published - received > BACKLOG:
                await asyncio.sleep(0.02)
                continue
            published += len(await publisher.batch(MAX_BATCH))

    async def watch() -> None:
        nonlocal received
        while time.perf_counter() < deadline:
            received = int((await sink.stats(session))["count"])
            await asyncio.sleep(0.05)

    async def measure() -> tuple[int, float, int, float]:
        await asyncio.sleep(warm)
        c0, t0 = int((await sink.stats(session))["count"]), time.perf_counter()
        async with bench.measured(f"sustained-max-{found.backend}", [hookd]) as usage:
            await asyncio.sleep(max(0.1, deadline - time.perf_counter()))
        c1, t1 = int((await sink.stats(session))["count"]), time.perf_counter()
        found.max_cpu_us = usage.cpu[hookd.name] / max(c1 - c0, 1) * 1e6
        return c0, t0, c1, t1

    _, _, (c0, t0, c1, t1) = await asyncio.gather(publish(), watch(), measure())
    found.max_rate = (c1 - c0) / (t1 - t0)
    found.published_max = published


async def steady_phase(
    bench: Bench, sink: Sink, publisher: Publisher, found: Found, rate: float, seconds: float
) -> None:
    """Publish `rate` events/s (singles and batches, open loop); time publishes and lag."""
    loop = asyncio.get_running_loop()
    wall = time.time() - loop.time()
    due_at: dict[str, float] = {}
    outstanding: set[asyncio.Task[None]] = set()
    singles_rate = rate * SINGLE_SHARE
    batches_rate = rate * (1 - SINGLE_SHARE) / STEADY_BATCH
    start = loop.time() + 0.05
    end = start + seconds
    before = int((await sink.stats(bench.session))["count"])

    async def call(single: bool, due: float) -> None:
        try:
            made = await (publisher.single() if single else publisher.batch(STEADY_BATCH))
        except Exception as exc:
            found.errors += 1
            found.error_sample = found.error_sample or f"{type(exc).__name__}: {exc}"
            return
        (found.publish_single_ms if single else found.publish_batch_ms).append(
            (loop.time() - due) * 1000
        )
        for event_id in made:
            due_at[event_id] = due + wall

    # Two schedules merged in due order: a single event every 1/singles_rate s,
    # a batch every 1/batches_rate s.
    dues = sorted(
        [(start + i / singles_rate, True) for i in range(int(singles_rate * seconds))]
        + [(start + i / batches_rate, False) for i in range(int(batches_rate * seconds))]
    )
    for due, single in dues:
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(outstanding) >= 2000:
            found.errors += 1
            found.error_sample = found.error_sample or "2,000 publishes outstanding: skipped"
            continue
        task = asyncio.create_task(call(single, due))
        outstanding.add(task)
        task.add_done_callback(outstanding.discard)
    if outstanding:
        await asyncio.wait(outstanding, timeout=30)
    published_seconds = max(loop.time() - start, 1e-9)
    found.steady_rate = rate
    found.steady_published = len(due_at)

    async def all_received() -> bool:
        return int((await sink.stats(bench.session))["count"]) - before >= len(due_at)

    settle_deadline = time.monotonic() + 30
    while time.monotonic() < settle_deadline and not await all_received():
        await asyncio.sleep(0.1)
    receipts = await sink.receipts(bench.session)
    first: dict[str, float] = {}
    for event_id, at in receipts:
        if event_id in due_at and event_id not in first:
            first[event_id] = at
    found.lag_ms = [(at - due_at[i]) * 1000 for i, at in first.items()]
    found.missing = len(due_at) - len(first)
    in_window = sum(1 for at in first.values() if at <= end + wall)
    found.steady_delivered_rate = in_window / published_seconds


async def measure_backend(bench: Bench, backend: str, db: str) -> Found:
    found = Found(backend)
    quick = bench.quick
    max_seconds = bench.sizes.sustained_max_seconds
    steady_seconds = bench.sizes.sustained_seconds
    children = bench.children(f"sustained-{backend}")
    with children.scope():
        sink = start_sink(children)
        serve = start_hookd(children, db)  # default settings: nothing but BASE_SETTINGS
        # Its delivery children print this line (into serve's log) once they deliver.
        children_due = usable_cores() - 1
        serve.child.wait_until(
            lambda: serve.child.output(tail=1 << 16).count("delivering from") >= children_due
        )
        api = HookdApi(bench.session, serve.url)
        await api.one_per_type(sink.url, [f"bench.e{i}" for i in range(WEBHOOKS)])
        began = time.perf_counter()
        sampler = asyncio.create_task(sample_rss(serve.child, found, 1.0 if quick else 5.0, began))
        try:
            found.processes = len(family(serve.child.pid))
            publisher = Publisher(bench.session, serve.url)
            await max_phase(bench, sink, publisher, serve.child, found, max_seconds)

            async def drained() -> bool:
                return int((await sink.stats(bench.session))["count"]) >= found.published_max

            deadline = time.monotonic() + bench.sizes.time_limit
            while time.monotonic() < deadline and not await drained():
                await asyncio.sleep(0.1)
            await sink.reset(bench.session)
            rate = max(10.0, found.max_rate / 2)
            await steady_phase(bench, sink, publisher, found, rate, steady_seconds)
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
    return found


async def limit(bench: Bench) -> throughput.Limit:
    return await throughput.measure_limit(bench)


async def run(bench: Bench) -> Outcome:
    outcome = Outcome()
    backends: list[tuple[str, str]] = [
        ("SQLite", sqlite_url(bench.workdir("sustained-sqlite") / "hookd.db"))
    ]
    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    await asyncio.to_thread(server.start)
    try:
        backends.append(("PostgreSQL", server.create_database("bench_sustained")))
        for backend, db in backends:
            before = await limit(bench)
            found = await measure_backend(bench, backend, db)
            after = await limit(bench)
            bare = (before.rate + after.rate) / 2
            bare_cpu_us = (before.cpu_us + after.cpu_us) / 2
            outcome.rows += rows(found, bare)
            outcome.details += details(found, before, after, bare_cpu_us)
    finally:
        await asyncio.to_thread(server.stop)
    return outcome


def rows(found: Found, bare: float) -> list[Row]:
    name = f"{NAME} ({found.backend})"
    ratio = TARGET_RATIO[found.backend]
    half = f"at 50% of max ({found.steady_rate:,.0f} events/s)"
    last_rss = found.rss[-1][1] if found.rss else math.nan
    return [
        Row(
            name,
            "delivered/s while publishing (max)",
            found.max_rate,
            "/s",
            bare,
            "raw aiohttp+uvloop",
            Target("ratio", ">=", ratio, f"≥ {ratio:.2f}x"),
        ),
        Row(
            name,
            f"delivery lag p99 {half}",
            found.lag(99),
            "ms",
            target=Target("value", "<=", TARGET_LAG_P99_MS, "≤ 1,000 ms"),
        ),
        Row(name, f"delivery lag p50 {half}", found.lag(50), "ms"),
        Row(name, "publish p99, single event", percentile(found.publish_single_ms, 99), "ms"),
        Row(
            name,
            f"publish p99, batch of {STEADY_BATCH}",
            percentile(found.publish_batch_ms, 99),
            "ms",
        ),
        Row(name, "RSS at the end (serve + children)", last_rss, "MiB"),
    ]


def details(
    found: Found, before: throughput.Limit, after: throughput.Limit, bare_cpu_us: float
) -> list[str]:
    b = found.backend
    series = ", ".join(f"{t:.0f} s {m:.0f}" for t, m in found.rss)
    return [
        f"{b}: `hookd serve` ran {found.processes} processes (serve and its delivery children)",
        f"{b} max: {found.max_rate:,.0f} deliveries/s while publishing {found.published_max:,}"
        f" events in batches of {MAX_BATCH}; hookd CPU {found.max_cpu_us:,.0f} µs per delivery"
        f" (its publishing included) against {bare_cpu_us:,.0f} µs per request for the bare client"
        f" ({bare_cpu_us and found.max_cpu_us / bare_cpu_us:.2f}x)",
        f"{b} bare client: {before.rate:,.0f}/s before and {after.rate:,.0f}/s after hookd",
        f"{b} steady: {found.steady_published:,} events published at {found.steady_rate:,.0f}/s"
        f" asked ({SINGLE_SHARE:.0%} single, the rest in batches of {STEADY_BATCH});"
        f" delivered {found.steady_delivered_rate:,.0f}/s; lag p50 {found.lag(50):,.1f} ms,"
        f" p99 {found.lag(99):,.1f} ms, {found.missing:,} never received;"
        f" publish p50/p99 single {percentile(found.publish_single_ms, 50):,.1f}/"
        f"{percentile(found.publish_single_ms, 99):,.1f} ms,"
        f" batch {percentile(found.publish_batch_ms, 50):,.1f}/"
        f"{percentile(found.publish_batch_ms, 99):,.1f} ms; {found.errors} errors"
        + (f" ({found.error_sample})" if found.error_sample else ""),
        f"{b} RSS over time (MiB, serve + children): {series}",
    ]
