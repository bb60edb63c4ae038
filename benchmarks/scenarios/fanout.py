"""4. Fan-out: one event to 1,000 webhooks.

One `hookd serve` with 1,000 webhooks on the sink (each its own path).
Webhook i subscribes to `fan.wK` for every width K in 1, 10, 100, 1,000 with
i < K, so publishing `fan.wK` reaches exactly K webhooks. For each width the
harness publishes one event at a time, waits until the sink has all K
requests, and records the publish call's latency and the time from the
publish call to the last request's receipt. Before the next publish it waits
until hookd has recorded every attempt of the round (no delivery of it
`pending` or `sending`): otherwise a publish after a wide round waits behind
that round's 1,000 attempt records for the database, and its latency would
measure the round before, not its own width. Fan-out time is the slowest of the
rounds at 1,000; its baseline is the raw aiohttp+uvloop client sending 1,000
requests at hookd's concurrency (200). Publish latency at 1,000 webhooks is
compared with publish latency at one webhook: it should not grow (the
verdict allows 1.5x for noise in medians of a few milliseconds).
"""

from __future__ import annotations

import asyncio
import statistics
import time

import orjson

from benchmarks.api import HookdApi
from benchmarks.context import Bench
from benchmarks.db import sqlite_url
from benchmarks.load import wait_for
from benchmarks.procs import python
from benchmarks.report import Outcome, Row, Target
from benchmarks.stack import start_hookd, start_sink

NAME = "4 fan-out"
CREATE_CONCURRENCY = 8


def widths(total: int) -> list[int]:
    out = [1]
    while out[-1] * 10 < total:
        out.append(out[-1] * 10)
    return [*out, total]


async def create_webhooks(hookd: HookdApi, sink_url: str, total: int, sizes: list[int]) -> None:
    for k in sizes:
        await hookd.event_type(f"fan.w{k}")
    queue = list(range(total))

    async def lane() -> None:
        while queue:
            i = queue.pop()
            await hookd.webhook(f"{sink_url}/fan/{i}", [f"fan.w{k}" for k in sizes if i < k])

    await asyncio.gather(*(lane() for _ in range(CREATE_CONCURRENCY)))


async def raw_fanout_seconds(bench: Bench, sink_url: str, count: int) -> float:
    argv = python(
        "-m", "benchmarks.baselines.raw_client", "--url", sink_url, "--paths", str(count),
        "--count", str(count), "--concurrency", "200", "--seconds", "60",
    )  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return float(orjson.loads(out.strip().splitlines()[-1])["seconds"])


async def run(bench: Bench) -> Outcome:
    sizes = bench.sizes
    total = sizes.fanout_webhooks
    fan_widths = widths(total)
    db = sqlite_url(bench.workdir("fanout") / "hookd.db")
    children = bench.children("fanout")
    publish_ms: dict[int, list[float]] = {k: [] for k in fan_widths}
    fanout_s: dict[int, list[float]] = {k: [] for k in fan_widths}
    with children.scope():
        sink = start_sink(children)
        api = start_hookd(children, db)
        hookd = HookdApi(bench.session, api.url)
        started = time.perf_counter()
        await create_webhooks(hookd, sink.url, total, fan_widths)
        setup_s = time.perf_counter() - started
        for k in fan_widths:
            rounds = sizes.fanout_rounds if k == total else sizes.publish_samples
            for i in range(rounds):
                await sink.reset(bench.session)
                began = time.time()
                published = await hookd.publish(f"fan.w{k}", {"round": i, "width": k})
                publish_ms[k].append((time.time() - began) * 1000)
                if published["deliveries"] != k:
                    raise RuntimeError(f"fan.w{k} made {published['deliveries']} deliveries")

                async def all_in(k: int = k) -> bool:
                    return (await sink.stats(bench.session))["count"] >= k

                if not await wait_for(all_in, seconds=sizes.time_limit, every=0.02):
                    raise RuntimeError(f"fan-out to {k} not delivered in {sizes.time_limit:g} s")
                fanout_s[k].append((await sink.stats(bench.session))["last"] - began)

                async def settled(event_id: str = published["id"]) -> bool:
                    return await hookd.settled(event_id)

                if not await wait_for(settled, seconds=sizes.time_limit, every=0.02):
                    raise RuntimeError(f"fan-out to {k}: attempts not recorded in time")
        await sink.reset(bench.session)
        raw_s = await raw_fanout_seconds(bench, sink.url, total)
    slowest = max(fanout_s[total])
    median_ms = {k: statistics.median(v) for k, v in publish_ms.items()}
    scenario = f"{NAME} (SQLite)"
    outcome = Outcome(
        rows=[
            Row(
                scenario,
                f"one event to {total:,} webhooks, all delivered",
                slowest,
                "s",
                raw_s,
                f"raw client, {total:,} requests",
                Target("value", "<=", 2.0, "≤ 2 s"),
            ),
            Row(
                scenario,
                f"publish latency, {total:,} webhooks (median)",
                median_ms[total],
                "ms",
                median_ms[1],
                "1 webhook",
                Target("ratio", "<=", 1.5, "flat (≤ 1.5x)"),
            ),
        ]
    )
    outcome.details = [
        f"created {total:,} webhooks in {setup_s:.1f} s",
        "publish latency (median) by width: "
        + ", ".join(f"{k:,}: {median_ms[k]:.1f} ms" for k in fan_widths),
        f"publish latency (each round) at {total:,}: "
        + "/".join(f"{ms:.1f}" for ms in publish_ms[total])
        + " ms",
        "fan-out time (each round) by width: "
        + ", ".join(
            f"{k:,}: " + "/".join(f"{s:.2f}" for s in fanout_s[k]) + " s" for k in fan_widths
        ),
    ]
    return outcome
