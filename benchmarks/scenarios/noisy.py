"""6. Noisy neighbour: 20 % of the webhooks never answer.

As scenario 3 at 200 events/s, but 2 of the 10 webhooks point at a second
sink that reads requests and never answers, so their attempts run into
hookd's request timeout (the default, 15 s) and are retried on the default
schedule. The figure is the p99 publish→receipt latency of the events owed to
the 8 healthy webhooks; the baseline is scenario 3's p99 at 200/s.
"""

from __future__ import annotations

from benchmarks.api import HookdApi
from benchmarks.context import Bench
from benchmarks.db import sqlite_url
from benchmarks.report import Outcome, Row, Target
from benchmarks.scenarios import latency
from benchmarks.stack import start_hookd, start_sink

NAME = "6 noisy neighbour"
RATE = 200
SHARE = 0.2


async def run(bench: Bench) -> Outcome:
    sizes = bench.sizes
    webhooks = sizes.webhooks
    noisy = max(1, round(webhooks * SHARE))
    db = sqlite_url(bench.workdir("noisy") / "hookd.db")
    children = bench.children("noisy")
    with children.scope():
        sink = start_sink(children)
        hang = start_sink(children, mode="hang")
        # Stopping with attempts stuck on the silent sink need not wait long.
        api = start_hookd(children, db, shutdown_grace=1)
        hookd = HookdApi(bench.session, api.url)
        types = [f"bench.e{i}" for i in range(webhooks)]
        urls = [f"{(hang if i < noisy else sink).url}/hook/{i}" for i in range(webhooks)]
        await hookd.webhooks(urls, [[t] for t in types])
        async with bench.measured("noisy", [api.child]) as usage:
            found = await latency.through_hookd(
                bench, api.url, sink, RATE, healthy=lambda i: i % webhooks >= noisy
            )
        found.cpu = usage.describe()
        stuck = (await hang.stats(bench.session))["count"]
    quiet = await bench.figure(f"latency.p99.{RATE}", lambda: latency.measure_sqlite(bench))
    outcome = Outcome(
        rows=[
            Row(
                f"{NAME} (SQLite)",
                f"healthy p99 at {RATE}/s, {noisy} of {webhooks} webhooks silent",
                found.p(99),
                "ms",
                quiet,
                "scenario 3",
                Target("ratio", "<=", 2.0, "≤ 2.00x"),
            )
        ]
    )
    outcome.details = [
        found.summary("healthy webhooks"),
        f"the silent sink received {stuck:,.0f} requests (none answered)",
    ]
    return outcome
