"""7. The usual Python alternative: Celery + Redis + requests.

The harness starts its own `redis-server` (Debian's package, installed with
apt-get when missing and the harness runs as root) on a free loopback port
with persistence off, enqueues 20,000 `deliver` tasks carrying the same
standard envelopes as scenario 1 while no worker runs, then starts `celery
worker` (prefork pool of one process per core, Celery's default; 4 and 8 per
core measured no faster here) and times it draining the queue into a fresh
fast sink, first to last receipt, as scenario 1 does. Right before, one
`hookd serve` drains as many deliveries the way scenario 1 does, so both are
measured under the same load; the ratio is how many times faster hookd is.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

from benchmarks.context import Bench
from benchmarks.db import sqlite_url
from benchmarks.load import wait_for
from benchmarks.procs import Child, free_port, python
from benchmarks.report import Outcome, Row, Target
from benchmarks.scenarios import throughput
from benchmarks.stack import start_sink

NAME = "7 Celery+Redis+requests"
POOL_PER_CORE = 1


def ensure_redis() -> str:
    """Return the path of redis-server, installing Debian's package if it is missing."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("redis-server is missing; install it (apt-get install redis-server)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "redis-server"],
    ):
        subprocess.run(argv, check=True, env=env, capture_output=True, timeout=600)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("apt-get installed redis-server but it is not on PATH")
    return found


def enqueue(redis_url: str, sink_url: str, count: int, paths: int) -> None:
    """Queue `count` deliver tasks by name (blocking; run in a thread)."""
    from celery import Celery

    from benchmarks.baselines.raw_client import bodies

    producer = Celery("hookd-bench-producer", broker=redis_url)
    try:
        for i, (event_id, body) in enumerate(bodies(count)):
            headers = {"content-type": "application/json", "webhook-id": event_id}
            producer.send_task("deliver", (f"{sink_url}/hook/{i % paths}", body.decode(), headers))
    finally:
        producer.close()


async def run(bench: Bench) -> Outcome:
    sizes = bench.sizes
    redis_server = await asyncio.to_thread(ensure_redis)
    children = bench.children("celery")
    pool = POOL_PER_CORE * (os.cpu_count() or 1)
    db = sqlite_url(bench.workdir("celery") / "hookd.db")
    hookd = await throughput.measure_hookd(bench, db, name="celery-hookd", count=sizes.celery_tasks)
    with children.scope():
        port = free_port()
        redis = Child(
            "redis",
            [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(children.workdir), "--protected-mode", "yes"],
            log=children.workdir / "redis.log",
        )  # fmt: skip
        children.start(redis).wait_output("Ready to accept connections", timeout=30)
        redis_url = f"redis://127.0.0.1:{port}/0"
        sink = start_sink(children)
        await asyncio.to_thread(enqueue, redis_url, sink.url, sizes.celery_tasks, sizes.webhooks)
        worker = Child(
            "celery-worker",
            python(
                "-m", "celery", "-A", "benchmarks.baselines.celery_app", "worker",
                "--pool", "prefork", "--concurrency", str(pool), "--loglevel", "WARNING",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ),
            log=children.workdir / "celery.log",
            env={**os.environ, "BENCH_REDIS_URL": redis_url},
            group=True,
        )  # fmt: skip
        children.start(worker)

        async def drained() -> bool:
            if not worker.alive():
                raise RuntimeError(f"celery worker exited:\n{worker.output()}")
            return (await sink.stats(bench.session))["count"] >= sizes.celery_tasks

        await wait_for(drained, seconds=sizes.time_limit, every=0.2)
        stats = await sink.stats(bench.session)
    celery_rate = throughput.rate_of(stats)
    hookd_rate = hookd.rate
    outcome = Outcome(
        rows=[
            Row(
                f"{NAME} vs hookd (SQLite)",
                "deliveries/s, hookd (as scenario 1)",
                hookd_rate,
                "/s",
                celery_rate,
                f"Celery prefork x{pool}",
                Target("ratio", ">=", 5.0, "≥ 5x"),
            )
        ]
    )
    outcome.details = [
        f"hookd delivered {hookd.delivered:,} at {hookd.rate:,.0f}/s ({hookd.cpu_us:,.0f} µs of"
        " CPU per delivery) right before Celery ran",
        f"Celery delivered {stats['count']:,.0f} of {sizes.celery_tasks:,} tasks at"
        f" {celery_rate:,.0f}/s with a prefork pool of {pool}",
    ]
    return outcome
