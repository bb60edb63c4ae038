"""12. Ordered delivery: one FIFO line, and 100 keys side by side.

One signed webhook with default settings gets a pre-published backlog (in
batches of 1,000, while no worker runs), then one `hookd serve` with default
settings (on PostgreSQL: an API and two `hookd worker`) drains it to the sink,
which answers at once. The rate is deliveries received from the sink's first
to its last receipt, as in scenario 1. Three shapes of the same webhook:
`"ordering": "fifo"` with no key (one line: one delivery in flight at a time);
`"ordering": "fifo", "ordering_key": "${order.id}"` over 100 distinct ids
(100 lines; the webhook's default in-flight limit, per delivering process,
still caps how many go at once); and, as the baseline, the same webhook
unordered, drained before and after the ordered runs (the mean is the
baseline). Per-key throughput is each key's receipts from its first to its
last, in the 100-key run. The sink's receipts are checked: every event
arrives, and each line's events arrive in publish order; a row whose line
was out of order (or lost events) fails the scenario.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson

from benchmarks.api import HookdApi
from benchmarks.context import Bench
from benchmarks.db import describe, sqlite_url, status_counts
from benchmarks.report import Outcome, Row, Target
from benchmarks.scenarios import throughput
from benchmarks.stack import Sink, start_hookd, start_sink

NAME = "12 ordered delivery"
KEYS = 100
EVENT_TYPE = "bench.order"
WORKERS = 2  # on PostgreSQL, as scenario 8
PER_CALL = 1000


@dataclass(frozen=True)
class Shape:
    """How the webhook orders: `ordering` and `ordering_key` (None: no key), and its size."""

    name: str
    ordering: str
    key: str | None
    keys: int  # distinct `order.id` values in the events
    count: int


@dataclass
class Run:
    shape: Shape
    drained: throughput.Drained
    out_of_order: int  # lines whose receipts broke publish order
    missing: int  # events published but never received
    per_key: list[float] = field(default_factory=list)  # deliveries/s of each line

    @property
    def ok(self) -> bool:
        return not self.out_of_order and not self.missing


def shapes(bench: Bench) -> tuple[Shape, Shape, Shape]:
    """Return the unordered baseline, the one line and the 100 keys, sized for the run.

    One line moves one delivery at a time, so it gets a tenth of the backlog.
    """
    keyed = max(KEYS * 4, bench.sizes.deliveries // 5)  # 10,000 (quick: 400)
    line = max(100, keyed // 10)
    return (
        Shape("unordered", "none", None, KEYS, keyed),
        Shape("one line", "fifo", None, KEYS, line),
        Shape(f"{KEYS} keys", "fifo", "${order.id}", KEYS, keyed),
    )


async def create_webhook(hookd: HookdApi, url: str, shape: Shape) -> str:
    await hookd.event_type(EVENT_TYPE)
    body: dict[str, Any] = {"url": url, "events": [EVENT_TYPE], "ordering": shape.ordering}
    if shape.key is not None:
        body["ordering_key"] = shape.key
    async with hookd.session.post(
        f"{hookd.base}/webhooks", data=orjson.dumps(body), headers=hookd.headers
    ) as response:
        created = orjson.loads(await response.read())
        if response.status != 201:
            raise RuntimeError(f"POST /webhooks -> {response.status}: {created}")
    webhook_id: str = created["id"]
    return webhook_id


async def publish(hookd: HookdApi, shape: Shape) -> dict[str, tuple[str, int]]:
    """Publish the shape's events in order; return event id -> (order id, sequence)."""
    published: dict[str, tuple[str, int]] = {}
    for first in range(0, shape.count, PER_CALL):
        numbers = range(first, min(first + PER_CALL, shape.count))
        events = [
            {"type": EVENT_TYPE, "data": {"order": {"id": f"o{n % shape.keys}"}, "seq": n}}
            for n in numbers
        ]
        async with hookd.session.post(
            f"{hookd.base}/events/batch",
            data=orjson.dumps({"events": events}),
            headers=hookd.headers,
        ) as response:
            answer = orjson.loads(await response.read())
            if response.status != 202:
                raise RuntimeError(f"POST /events/batch -> {response.status}: {answer}")
        for n, item in zip(numbers, answer["data"], strict=True):
            published[item["id"]] = (f"o{n % shape.keys}", n)
    return published


def line_of(shape: Shape, order_id: str) -> str:
    """Return the line an event waits in: its order id, or the webhook's one line."""
    return order_id if shape.key else ""


async def measure(bench: Bench, db: str, shape: Shape, *, workers: int, name: str) -> Run:
    """Pre-publish the shape's backlog to a fresh webhook, drain it, check the order."""
    children = bench.children(name)
    with children.scope():
        sink = start_sink(children)
        api = start_hookd(children, db, worker=False)
        hookd = HookdApi(bench.session, api.url)
        await create_webhook(hookd, f"{sink.url}/hook/0", shape)
        published = await publish(hookd, shape)
        if workers:
            processes = [start_hookd(children, db, command="worker") for _ in range(workers)]
        else:
            api.child.stop()
            processes = [start_hookd(children, db)]
        drained = await throughput.drain(bench, sink, len(published), processes, name)
        await asyncio.sleep(0.5)  # let the recorder write the last attempts
        run = await check(bench, sink, shape, published, drained)
        children.stop_all()
    drained.statuses = await status_counts(db)
    return run


async def check(
    bench: Bench,
    sink: Sink,
    shape: Shape,
    published: dict[str, tuple[str, int]],
    drained: throughput.Drained,
) -> Run:
    """Count the lines whose receipts broke publish order; measure each key's rate."""
    arrivals: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for event_id, at in await sink.receipts(bench.session):
        order_id, seq = published[event_id]
        arrivals[line_of(shape, order_id)].append((seq, at))
    received = {seq for line in arrivals.values() for seq, _ in line}
    run = Run(shape, drained, 0, len(published) - len(received))
    if shape.ordering != "fifo":
        return run
    for line in arrivals.values():
        seqs = [seq for seq, _ in line]
        # A head sent again (its answer was lost) may repeat; nothing may go back.
        if any(later < earlier for earlier, later in itertools.pairwise(seqs)):
            run.out_of_order += 1
        if len(line) > 1 and line[-1][1] > line[0][1]:
            run.per_key.append((len(line) - 1) / (line[-1][1] - line[0][1]))
    return run


async def measure_all(bench: Bench, backend: str, db_of: Any, workers: int) -> list[Run]:
    """Run unordered, one line, 100 keys, unordered again, each on a fresh database."""
    unordered, line, keyed = shapes(bench)
    runs = []
    for i, shape in enumerate((unordered, line, keyed, unordered)):
        name = f"fifo-{backend}-{i}-{shape.name.replace(' ', '-')}"
        runs.append(await measure(bench, db_of(name), shape, workers=workers, name=name))
    return runs


def rows(label: str, runs: list[Run]) -> tuple[list[Row], list[str], list[str]]:
    """Return the rows, lines of detail and failures of one backend's runs."""
    before, line, keyed, after = runs
    baseline = (before.drained.rate + after.drained.rate) / 2
    per_key = statistics.median(keyed.per_key) if keyed.per_key else float("nan")
    none = Target("none", "", 0, "")
    found = [
        Row(label, "deliveries/s, one FIFO line (no key)", line.drained.rate, "/s",
            baseline, "same webhook unordered", none),
        Row(label, f"deliveries/s, FIFO over {KEYS} keys", keyed.drained.rate, "/s",
            baseline, "same webhook unordered", none),
        Row(label, f"deliveries/s per key, {KEYS} keys (median)", per_key, "/s/key",
            line.drained.rate, "one FIFO line", none),
    ]  # fmt: skip
    failures = []
    for row, run in ((found[0], line), (found[1], keyed), (found[2], keyed)):
        if not run.ok:
            row.figure += " — OUT OF ORDER" if run.out_of_order else " — EVENTS MISSING"
            failures.append(
                f"{label}, {run.shape.name}: {run.out_of_order} lines out of order,"
                f" {run.missing} events never received"
            )
    details = [
        f"{label}, {run.shape.name} ({run.shape.count:,} events): {run.drained.rate:,.0f}/s;"
        f" {run.drained.delivered:,} received ({run.drained.duplicates:,} duplicates,"
        f" {run.missing:,} missing), {run.out_of_order} lines out of order;"
        f" database afterwards: {describe(run.drained.statuses)}; {run.drained.cpu};"
        f" {run.drained.cpu_us:,.0f} µs of CPU per delivery"
        for run in runs
    ]
    details.append(
        f"{label}: unordered baseline {before.drained.rate:,.0f}/s before and"
        f" {after.drained.rate:,.0f}/s after the ordered runs"
    )
    if keyed.per_key:
        details.append(
            f"{label}, {KEYS} keys: per-key deliveries/s min {min(keyed.per_key):,.1f},"
            f" median {per_key:,.1f}, max {max(keyed.per_key):,.1f}"
            f" ({len(keyed.per_key)} keys with 2 or more receipts)"
        )
    return found, details, failures


async def run(bench: Bench) -> Outcome:
    from tests.support.postgres import PostgresServer

    outcome = Outcome()
    failures: list[str] = []

    def sqlite_db(name: str) -> str:
        return sqlite_url(bench.workdir(name) / "hookd.db")

    found, details, failed = rows("12 ordered delivery (SQLite)", await measure_all(
        bench, "sqlite", sqlite_db, workers=0
    ))  # fmt: skip
    outcome.rows += found
    outcome.details += details
    failures += failed

    server = PostgresServer()
    await asyncio.to_thread(server.start)
    try:
        label = f"12 ordered delivery (PostgreSQL, {WORKERS} workers)"
        found, details, failed = rows(label, await measure_all(
            bench, "pg", lambda name: server.create_database(name.replace("-", "_")), WORKERS
        ))  # fmt: skip
        outcome.rows += found
        outcome.details += details
        failures += failed
    finally:
        await asyncio.to_thread(server.stop)
    if failures:
        outcome.error = "; ".join(failures)
    return outcome
