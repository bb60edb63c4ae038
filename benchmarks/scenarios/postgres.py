"""8. PostgreSQL: scenarios 1-3 with one API process and two worker processes.

A throwaway PostgreSQL server (the test harness's `PostgresServer`:
tests/support/postgres.py; fsync off, on tmpfs when it has room) gets a fresh
database per scenario. The API is `hookd serve --no-worker`; delivery is two
`hookd worker` processes. Each scenario is measured as on SQLite, and the
baselines of 1 and 2 are measured again next to it, so that a change in the
machine's load between scenarios does not skew the ratios.
"""

from __future__ import annotations

import asyncio

from benchmarks.context import Bench
from benchmarks.report import Outcome, Row, Target
from benchmarks.scenarios import ingest, latency, throughput

NAME = "8 PostgreSQL"
WORKERS = 2


async def run(bench: Bench) -> Outcome:
    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    await asyncio.to_thread(server.start)
    try:
        outcome = Outcome()
        outcome.details.append(
            f"PostgreSQL {server.major_version} started in {server.startup_seconds or 0:.1f} s"
        )
        await _throughput(bench, server.create_database("bench_throughput"), outcome)
        await _ingest(bench, server.create_database("bench_ingest"), outcome)
        await _latency(bench, server.create_database("bench_latency"), outcome)
        return outcome
    finally:
        await asyncio.to_thread(server.stop)


async def _throughput(bench: Bench, db: str, outcome: Outcome) -> None:
    before = await throughput.measure_limit(bench)
    drained = await throughput.measure_hookd(bench, db, workers=WORKERS, name="pg-throughput")
    throughput.share_limit(bench, [before, await throughput.measure_limit(bench)])
    limit = bench.shared["limit.rate"]
    outcome.rows.append(
        Row(
            f"{throughput.NAME} (PostgreSQL, {WORKERS} workers)",
            "deliveries/s",
            drained.rate,
            "/s",
            limit,
            "raw aiohttp+uvloop",
            Target("ratio", ">=", 0.5, "≥ 0.50x"),
        )
    )
    outcome.details += ["throughput: " + line for line in throughput.details(drained, bench)]


async def _ingest(bench: Bench, db: str, outcome: Outcome) -> None:
    before = await ingest.measure_bare(bench)
    found = await ingest.measure_hookd(bench, db, name="pg-ingest")
    ingest.share_bare(bench, [before, await ingest.measure_bare(bench)])
    outcome.rows += ingest.rows(f"{ingest.NAME} (PostgreSQL)", found, bench)
    outcome.details += ["ingest: " + line for line in ingest.details(found, bench)]


async def _latency(bench: Bench, db: str, outcome: Outcome) -> None:
    found = await latency.measure_hookd(bench, db, workers=WORKERS, name="pg-latency")
    await bench.figure(f"direct.p99.{bench.sizes.rates[0]}", lambda: latency.measure_direct(bench))
    outcome.rows += latency.rows(f"{latency.NAME} (PostgreSQL, {WORKERS} workers)", found, bench)
    outcome.details += [found_rate.summary("latency: hookd") for found_rate in found.values()]
