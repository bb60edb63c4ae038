"""5. Backlog: one `hookd serve` starting on 1,000,000 pending deliveries.

The 10 webhooks of scenario 1 are created through the API; then the harness
writes 1,000,000 events, each owed to one webhook and due now, straight into
the SQLite file in one transaction (sqlite3 `executemany` into the tables and
columns of `hookd.store.tables`, ids from `hookd.ids`; see benchmarks/db.py),
which takes seconds where the API would take minutes. `hookd serve` then
starts on that database and delivers to the fast sink; the rate is taken over
the first 100,000 deliveries (first to last receipt, as in scenario 1), and
the peak resident set (VmHWM in /proc/PID/status) is read when that window
ends. Baselines: scenario 1's rate and scenario 1's peak RSS.
"""

from __future__ import annotations

import asyncio

from benchmarks.api import HookdApi
from benchmarks.context import Bench
from benchmarks.db import default_app_id, describe, insert_backlog, sqlite_url, status_counts
from benchmarks.report import Outcome, Row, Target
from benchmarks.scenarios import throughput
from benchmarks.stack import start_hookd, start_sink

NAME = "5 backlog"


async def run(bench: Bench) -> Outcome:
    sizes = bench.sizes
    path = bench.workdir("backlog") / "hookd.db"
    db = sqlite_url(path)
    children = bench.children("backlog")
    with children.scope():
        sink = start_sink(children)
        api = start_hookd(children, db, worker=False)
        hookd = HookdApi(bench.session, api.url)
        types = [f"bench.e{i}" for i in range(sizes.webhooks)]
        webhook_ids = await hookd.one_per_type(sink.url, types)
        api.child.stop()
        insert_s = await asyncio.to_thread(
            insert_backlog, path, default_app_id(path), webhook_ids, types, sizes.backlog
        )
        serve = start_hookd(children, db)
        start_rss = serve.child.peak_rss_mib()
        window = min(sizes.backlog_window, sizes.backlog)
        drained = await throughput.drain(bench, sink, window, [serve], "backlog")
        children.stop_all()
    counts = await status_counts(db)
    s1_rate = await bench.figure("throughput.rate", lambda: throughput.run(bench))
    s1_rss = bench.shared["throughput.rss"]
    scenario = f"{NAME} of {sizes.backlog:,} (SQLite)"
    outcome = Outcome(
        rows=[
            Row(
                scenario,
                "peak RSS of hookd serve",
                drained.peak_rss_mib,
                "MiB",
                s1_rss,
                "scenario 1",
                Target("value", "<=", 500, "≤ 500 MiB"),
            ),
            Row(
                scenario,
                "delivery rate",
                drained.rate,
                "/s",
                s1_rate,
                "scenario 1",
                Target("ratio", ">=", 0.8, "≥ 0.80x"),
            ),
        ]
    )
    outcome.details = [
        f"inserted {sizes.backlog:,} events and deliveries in {insert_s:.1f} s",
        f"VmHWM {start_rss:.0f} MiB once serving, {drained.peak_rss_mib:.0f} MiB after"
        f" {drained.delivered:,} deliveries ({drained.duplicates:,} duplicates)",
        f"{drained.cpu_us:,.0f} µs of CPU per delivery (scenario 1:"
        f" {bench.shared.get('throughput.cpu_us', float('nan')):,.0f} µs), which moves less"
        " with the machine's load than the rate",
        f"database afterwards: {describe(counts)}",
    ]
    return outcome
