"""1. Delivery throughput: a pre-published backlog drained to a fast sink.

50,000 events are published (in batches of 1,000, while no worker runs) to
10 signed webhooks, one event type each, so 50,000 deliveries are due. Then
one `hookd serve` with default settings (on PostgreSQL: two `hookd worker`)
starts and drains them; it delivers with one process per usable core (the
default HOOKD_DELIVERY_PROCESSES: on 2 cores, serve and one child, whose CPU
is counted with its parent's).
The rate is deliveries received by the sink from its first to its last
receipt. The baseline posts the same number of standard envelopes to the same
sink from a plain aiohttp+uvloop client with no persistence, at one delivery
process's concurrency (10 webhooks x the default per-webhook in-flight limit,
under HOOKD_CONCURRENCY; hookd's two processes may have twice that).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import orjson

from benchmarks.api import HookdApi
from benchmarks.context import Bench
from benchmarks.db import describe, sqlite_url, status_counts
from benchmarks.load import wait_for
from benchmarks.procs import python
from benchmarks.report import Outcome, Row, Target
from benchmarks.stack import Hookd, Sink, start_hookd, start_sink

NAME = "1 delivery throughput"
HOOKD_CONCURRENCY = 200


def effective_concurrency(webhooks: int) -> int:
    """One delivery process's in-flight limit for this many webhooks: per webhook, and overall.

    hookd's two processes may have twice this in flight. The baseline keeps one
    process's figure: the raw client is faster at 100 than at 200 requests in
    flight (11,420-13,009/s against 8,638-10,390/s, measured 2026-12-01), so
    this is the harder baseline.
    """
    from hookd.domain.models import DEFAULT_MAX_IN_FLIGHT

    return min(HOOKD_CONCURRENCY, webhooks * DEFAULT_MAX_IN_FLIGHT)


@dataclass
class Drained:
    delivered: int
    owed: int
    rate: float
    peak_rss_mib: float
    statuses: dict[str, int]
    duplicates: int
    cpu: str = ""
    cpu_us: float = 0.0  # CPU of the delivering processes per delivery, microseconds


def rate_of(stats: dict[str, float]) -> float:
    span = stats["last"] - stats["first"]
    return (stats["count"] - 1) / span if stats["count"] > 1 and span > 0 else 0.0


async def drain(bench: Bench, sink: Sink, owed: int, processes: list[Hookd], name: str) -> Drained:
    """Wait until the sink has `owed` requests (or the time limit); measure the rate."""
    session = bench.session

    async def done() -> bool:
        return (await sink.stats(session))["count"] >= owed

    async with bench.measured(name, [p.child for p in processes] + [sink.child]) as usage:
        await wait_for(done, seconds=bench.sizes.time_limit, every=0.1)
    stats = await sink.stats(session)
    rss = max(p.child.peak_rss_mib() for p in processes)
    receipts = await sink.receipts(session)
    duplicates = len(receipts) - len({event_id for event_id, _ in receipts})
    drained = Drained(int(stats["count"]), owed, rate_of(stats), rss, {}, duplicates)
    drained.cpu = usage.describe()
    hookd_cpu = sum(usage.cpu[p.child.name] for p in processes)
    drained.cpu_us = hookd_cpu / max(drained.delivered, 1) * 1e6
    return drained


async def measure_hookd(
    bench: Bench, db: str, *, workers: int = 0, name: str = "throughput", count: int = 0
) -> Drained:
    """Pre-publish `count` deliveries (default: the run's size), then drain them.

    The draining is one `hookd serve` (workers=0), or an API and `workers` workers.
    """
    sizes = bench.sizes
    children = bench.children(name)
    with children.scope():
        sink = start_sink(children)
        api = start_hookd(children, db, worker=False)
        hookd = HookdApi(bench.session, api.url)
        types = [f"bench.e{i}" for i in range(sizes.webhooks)]
        await hookd.one_per_type(sink.url, types)
        owed = await hookd.prepublish(count or sizes.deliveries, types)
        if workers:
            processes = [start_hookd(children, db, command="worker") for _ in range(workers)]
        else:
            api.child.stop()
            processes = [start_hookd(children, db)]
        drained = await drain(bench, sink, owed, processes, name)
        await asyncio.sleep(0.5)  # let the recorder write the last attempts
        children.stop_all()
    drained.statuses = await status_counts(db)
    return drained


@dataclass
class Limit:
    rate: float
    cpu_share: float  # of one core, while sending
    cpu_us: float  # per request
    concurrency: int


async def measure_limit(bench: Bench) -> Limit:
    """Run the raw aiohttp+uvloop client against a fresh sink."""
    sizes = bench.sizes
    concurrency = effective_concurrency(sizes.webhooks)
    children = bench.children("raw-client")
    with children.scope():
        sink = start_sink(children)
        argv = python(
            "-m", "benchmarks.baselines.raw_client", "--url", sink.url,
            "--paths", str(sizes.webhooks), "--count", str(sizes.deliveries),
            "--concurrency", str(concurrency), "--seconds", str(sizes.time_limit),
        )  # fmt: skip
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), sizes.time_limit + 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        result = orjson.loads(out.strip().splitlines()[-1])
        stats = await sink.stats(bench.session)
    if result["errors"]:
        raise RuntimeError(f"raw client had {result['errors']} errors")
    return Limit(
        rate_of(stats),
        result["cpu"] / max(result["seconds"], 1e-9),
        result["cpu"] / max(result["sent"], 1) * 1e6,
        concurrency,
    )


def share_limit(bench: Bench, limits: list[Limit]) -> None:
    """Record the limit (the mean of the runs given) as figures `limit.*`."""
    n = len(limits)
    bench.shared["limit.rate"] = sum(x.rate for x in limits) / n
    bench.shared["limit.cpu"] = sum(x.cpu_share for x in limits) / n
    bench.shared["limit.cpu_us"] = sum(x.cpu_us for x in limits) / n
    bench.shared["limit.concurrency"] = limits[0].concurrency
    bench.shared["limit.runs"] = n
    for i, x in enumerate(limits):
        bench.shared[f"limit.rate.{i}"] = x.rate


async def run(bench: Bench) -> Outcome:
    db = sqlite_url(bench.workdir("throughput") / "hookd.db")
    # The baseline runs before and after hookd, so a change in the machine's load
    # during the scenario moves the baseline as much as it moves hookd.
    before = await measure_limit(bench)
    started = time.perf_counter()
    drained = await measure_hookd(bench, db)
    hookd_seconds = time.perf_counter() - started
    share_limit(bench, [before, await measure_limit(bench)])
    bench.shared["throughput.rate"] = drained.rate
    bench.shared["throughput.rss"] = drained.peak_rss_mib
    bench.shared["throughput.cpu_us"] = drained.cpu_us
    outcome = Outcome()
    outcome.rows.append(
        Row(
            f"{NAME} (SQLite)",
            "deliveries/s",
            drained.rate,
            "/s",
            bench.shared["limit.rate"],
            "raw aiohttp+uvloop",
            Target("ratio", ">=", 0.5, "≥ 0.50x"),
        )
    )
    outcome.details += [*details(drained, bench), f"hookd phase took {hookd_seconds:.0f} s"]
    return outcome


def details(drained: Drained, bench: Bench) -> list[str]:
    lines = [
        f"{drained.delivered:,} of {drained.owed:,} deliveries received by the sink"
        f" ({drained.duplicates:,} duplicates); database afterwards: {describe(drained.statuses)}",
        f"peak RSS of the delivering process (VmHWM): {drained.peak_rss_mib:.0f} MiB",
        f"{drained.cpu}; {drained.cpu_us:,.0f} µs of CPU per delivery",
    ]
    if "limit.concurrency" in bench.shared:
        shared = bench.shared
        runs = int(shared["limit.runs"])
        each = " and ".join(f"{shared[f'limit.rate.{i}']:,.0f}/s" for i in range(runs))
        lines.append(
            f"baseline: {bench.sizes.deliveries:,} POSTs at concurrency "
            f"{shared['limit.concurrency']:.0f}: {shared['limit.rate']:,.0f}/s"
            + (f" (mean of {each}, before and after hookd)" if runs > 1 else "")
            + f"; client CPU {shared['limit.cpu']:.0%} of a core,"
            f" {shared['limit.cpu_us']:,.0f} µs per request"
        )
    return lines
