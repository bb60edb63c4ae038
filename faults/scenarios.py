"""The five faults of issue 21, each `async def run(ctx) -> Row`, in SCENARIOS order.

    sqlite-kill9      kill -9 `hookd serve` (and its delivery children) under load, restart at once
    pg-workers-kill   PostgreSQL, 1 API + 3 workers: SIGKILL one, SIGSTOP another, slow receiver
    pg-down           PostgreSQL stopped under publishing: 503 database_unavailable, /readyz
    receiver-down     the receiver refuses connections, then comes back (probe backoff)
    receiver-slow     answers just inside the timeout, or past it, for some first requests

Every scenario publishes one event type to two webhooks on one counting receiver,
stops everything it started in a `finally`, and waits at most `drain_wait`
seconds after the fault for what is owed.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from faults.publisher import EVENT_TYPE, HEADERS, Published, publish
from faults.rig import Hookd, Pg, Rig, Rx
from faults.tally import TARGET_DRAIN, Api, PairStats, Row, answered_twice, owed_at, tally


@dataclass(frozen=True)
class Sizes:
    kill9_events: int = 2000
    kill9_rate: float = 50.0  # events/s, each owed to 2 webhooks
    kills: int = 3
    workers_rate: float = 40.0
    workers_pause: float = 30.0  # SIGSTOP ... SIGCONT
    pg_rate: float = 30.0
    pg_outage: float = 20.0
    rx_rate: float = 20.0
    rx_outage: float = 60.0
    slow_rate: float = 20.0
    slow_seconds: float = 20.0
    drain_wait: float = 90.0  # seconds after a fault's end to wait for what is owed


FULL = Sizes()
QUICK = Sizes(
    kill9_events=400,
    kills=2,
    workers_pause=16.0,  # past the 15 s request timeout and a 10 s heartbeat, inside a 60 s lease
    pg_outage=8.0,
    rx_outage=20.0,
    slow_seconds=8.0,
    drain_wait=75.0,
)
WEBHOOKS = 2


@dataclass
class Context:
    sizes: Sizes
    root: Path
    session: aiohttp.ClientSession
    seed: int = 21

    def rig(self, name: str) -> Rig:
        workdir = self.root / name
        workdir.mkdir(parents=True, exist_ok=True)
        return Rig(workdir, self.session)


async def _webhooks(ctx: Context, base_url: str, rx: Rx, **fields: object) -> dict[str, str]:
    """Create the event type and the webhooks `/hook/0`, `/hook/1`; return {id: path}."""
    api = f"{base_url}/v1/apps/default"
    made: dict[str, str] = {}
    async with ctx.session.post(
        f"{api}/event-types", data=orjson.dumps({"name": EVENT_TYPE}), headers=HEADERS
    ) as r:
        if r.status not in (201, 409):
            raise RuntimeError(f"event type: {r.status} {await r.text()}")
    for i in range(WEBHOOKS):
        body = {"url": f"{rx.url}/hook/{i}", "events": [EVENT_TYPE], **fields}
        async with ctx.session.post(
            f"{api}/webhooks", data=orjson.dumps(body), headers=HEADERS
        ) as r:
            if r.status != 201:
                raise RuntimeError(f"webhook: {r.status} {await r.text()}")
            made[orjson.loads(await r.read())["id"]] = f"/hook/{i}"
    return made


async def _at(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def _off_loop(call: Callable[[], object]) -> None:
    """Run a blocking harness call (start, kill, pg_ctl) without stalling the publisher."""
    await asyncio.to_thread(call)


async def _kill_and_restart(rig: Rig, process: Hookd) -> tuple[float, float]:
    """kill -9 a hookd process and start it again at once; (killed, up again), wall clock."""
    await _off_loop(lambda: rig.kill(process))
    killed = time.time()
    await _off_loop(lambda: rig.restart(process))
    return killed, time.time()


def _publishing(
    ctx: Context, url: str, name: str, rate: float, seconds: float
) -> asyncio.Task[Published]:
    run = f"{name}-{time.time_ns()}"
    return asyncio.create_task(publish(ctx.session, url, run=run, rate=rate, seconds=seconds))


async def sqlite_kill9(ctx: Context) -> Row:
    """kill -9 `hookd serve` on SQLite (its whole process group) at random points; restart.

    The receiver answers 200 after 0.1-0.3 s, so each kill cuts requests in flight.
    """
    s = ctx.sizes
    row = Row("sqlite-kill9")
    rig = ctx.rig(row.scenario)
    try:
        rx = rig.receiver()
        await rx.mode("delay", low=0.1, high=0.3)  # so that a kill finds requests in flight
        serve = rig.hookd(f"sqlite:///{rig.workdir / 'hookd.db'}")
        webhooks = await _webhooks(ctx, serve.url, rx)
        seconds = s.kill9_events / s.kill9_rate
        began = time.monotonic()
        publishing = _publishing(ctx, serve.url, row.scenario, s.kill9_rate, seconds)
        rng = random.Random(ctx.seed)
        moments = sorted(rng.uniform(0.15, 0.85) * seconds for _ in range(s.kills))
        kills: list[tuple[float, float]] = []  # (killed, up again), wall clock
        for moment in moments:
            await _at(began + moment)
            kills.append(await _kill_and_restart(rig, serve))
        fault_end = time.time()
        published = await publishing
        row.notes.append(
            f"{s.kills} kills at {', '.join(f'{m:.1f}' for m in moments)} s of {seconds:.0f} s; "
            f"restarts took {', '.join(f'{up - k:.1f}' for k, up in kills)} s"
        )
        await tally(
            row, rx, Api(ctx.session, serve.url), webhooks, published, fault_end,
            wait=s.drain_wait,
        )  # fmt: skip
        _owed_at_kills(row, await rx.pairs(), published, list(webhooks.values()), kills)
        return row
    finally:
        rig.close()


def _owed_at_kills(
    row: Row,
    pairs: PairStats,
    published: Published,
    paths: list[str],
    kills: list[tuple[float, float]],
) -> None:
    """Check that what was owed at each kill arrived within 10 s of the restart."""
    after = [owed_at(pairs, published, paths, killed, up) for killed, up in kills]
    row.notes.append(
        "what was owed at each kill arrived "
        + ", ".join("never" if a is None else f"{a:.1f} s" for a in after)
        + " after the restart"
    )
    row.checks["owed at a kill done <= 10 s after the restart"] = all(
        a is not None and a <= TARGET_DRAIN for a in after
    )


async def pg_workers_kill(ctx: Context) -> Row:
    """PostgreSQL, `serve --no-worker` + 3 workers, receiver 200 after 0.2-0.5 s.

    One worker is SIGKILLed and restarted at once; another is SIGSTOPped for
    `workers_pause` s, then SIGCONTinued, its requests in flight.
    """
    s = ctx.sizes
    row = Row("pg-workers-kill")
    rig = ctx.rig(row.scenario)
    pg = Pg()
    try:
        await _off_loop(pg.start)
        db = pg.database("faults_workers")
        rx = rig.receiver()
        await rx.mode("delay", low=0.2, high=0.5)
        serve = rig.hookd(db, worker=False)
        workers = [rig.hookd(db, command="worker") for _ in range(3)]
        webhooks = await _webhooks(ctx, serve.url, rx)
        lead, tail = 6.0, 5.0
        seconds = lead + s.workers_pause + tail
        began = time.monotonic()
        publishing = _publishing(ctx, serve.url, row.scenario, s.workers_rate, seconds)
        await _at(began + lead * 0.5)
        kills = [await _kill_and_restart(rig, workers[0])]
        await _at(began + lead)
        rig.signal(workers[1], signal.SIGSTOP)
        stopped = time.time()
        await _at(began + lead + s.workers_pause)
        rig.signal(workers[1], signal.SIGCONT)
        fault_end = time.time()
        published = await publishing
        row.notes.append(
            f"worker 1 killed at {lead * 0.5:.0f} s and restarted; worker 2 stopped "
            f"{lead:.0f}-{lead + s.workers_pause:.0f} s"
        )
        await tally(
            row, rx, Api(ctx.session, serve.url), webhooks, published, fault_end,
            wait=s.drain_wait,
        )  # fmt: skip
        pairs = await rx.pairs()
        paths = list(webhooks.values())
        _owed_at_kills(row, pairs, published, paths, kills)
        frozen = owed_at(pairs, published, paths, stopped, stopped)
        when = "never" if frozen is None else f"{frozen:.1f} s after it"
        if frozen is not None and frozen < s.workers_pause:
            when += ", while the worker was still stopped"
        row.notes.append(f"what was owed at the SIGSTOP arrived {when}")
        return row
    finally:
        rig.close()
        await _off_loop(pg.close)


async def pg_down(ctx: Context) -> Row:
    """PostgreSQL stopped for `pg_outage` s under publishing (`serve --no-worker` + 2 workers)."""
    s = ctx.sizes
    row = Row("pg-down")
    rig = ctx.rig(row.scenario)
    pg = Pg()
    try:
        await _off_loop(pg.start)
        db = pg.database("faults_down")
        rx = rig.receiver()
        serve = rig.hookd(db, worker=False)
        for _ in range(2):
            rig.hookd(db, command="worker")
        webhooks = await _webhooks(ctx, serve.url, rx)
        lead, tail = 4.0, 4.0
        seconds = lead + s.pg_outage + tail
        began = time.monotonic()
        publishing = _publishing(ctx, serve.url, row.scenario, s.pg_rate, seconds)
        await _at(began + lead)
        await _off_loop(pg.halt)
        down_from = time.monotonic()
        readiness = asyncio.create_task(_readiness(ctx, serve, until=down_from + s.pg_outage))
        await _at(down_from + s.pg_outage)
        await _off_loop(pg.resume)
        fault_end = time.time()
        ready_down = await readiness
        ready_after = await _ready_again(ctx, serve, seconds=15.0)
        published = await publishing
        row.checks["503 database_unavailable while down"] = published.unavailable > 0
        row.checks["/readyz 503 while down"] = ready_down > 0
        row.checks["/readyz 200 after"] = ready_after is not None
        row.notes.append(
            f"PostgreSQL stopped {lead:.0f}-{lead + s.pg_outage:.0f} s; "
            f"{published.unavailable} publishes answered 503 database_unavailable; "
            f"/readyz answered 503 {ready_down} times while down; ready again "
            + (f"{ready_after:.1f} s after the restart" if ready_after is not None else "never")
        )
        return await tally(
            row, rx, Api(ctx.session, serve.url), webhooks, published, fault_end,
            wait=s.drain_wait,
        )  # fmt: skip
    finally:
        rig.close()
        await _off_loop(pg.close)


async def _readiness(ctx: Context, serve: Hookd, *, until: float) -> int:
    """Count /readyz answers that say the database is down, polling until `until`."""
    down = 0
    while time.monotonic() < until:
        try:
            async with ctx.session.get(f"{serve.url}/readyz", timeout=_SHORT) as r:
                body = orjson.loads(await r.read())
                down += r.status == 503 and "database" in body.get("down", [])
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError):
            pass
        await asyncio.sleep(0.5)
    return down


async def _ready_again(ctx: Context, serve: Hookd, *, seconds: float) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        try:
            async with ctx.session.get(f"{serve.url}/readyz", timeout=_SHORT) as r:
                if r.status == 200:
                    return time.monotonic() - began
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.2)
    return None


_SHORT = aiohttp.ClientTimeout(total=3)


async def receiver_down(ctx: Context) -> Row:
    """The receiver refuses connections for `rx_outage` s under publishing, then comes back."""
    s = ctx.sizes
    row = Row("receiver-down")
    rig = ctx.rig(row.scenario)
    try:
        rx = rig.receiver()
        serve = rig.hookd(f"sqlite:///{rig.workdir / 'hookd.db'}")
        webhooks = await _webhooks(ctx, serve.url, rx)
        lead = 3.0
        began = time.monotonic()
        publishing = _publishing(ctx, serve.url, row.scenario, s.rx_rate, lead + s.rx_outage)
        await _at(began + lead)
        await rx.mode("refuse")
        await _at(began + lead + s.rx_outage)
        await rx.mode("ok")
        fault_end = time.time()
        published = await publishing
        row.notes.append(f"receiver refused connections {lead:.0f}-{lead + s.rx_outage:.0f} s")
        return await tally(
            row, rx, Api(ctx.session, serve.url), webhooks, published, fault_end,
            wait=s.drain_wait,
        )  # fmt: skip
    finally:
        rig.close()


SLOW_TIMEOUT = 4.0  # HOOKD_REQUEST_TIMEOUT of receiver-slow


async def receiver_slow(ctx: Context) -> Row:
    """HOOKD_REQUEST_TIMEOUT=4 s; 1 in 10 first requests answered at 3 s, 1 in 10 at 6 s."""
    s = ctx.sizes
    row = Row("receiver-slow")
    rig = ctx.rig(row.scenario)
    try:
        rx = rig.receiver()
        serve = rig.hookd(f"sqlite:///{rig.workdir / 'hookd.db'}", request_timeout=SLOW_TIMEOUT)
        webhooks = await _webhooks(ctx, serve.url, rx, max_in_flight=50)
        await rx.mode("slow", late=SLOW_TIMEOUT - 1.0, hang=SLOW_TIMEOUT + 2.0)
        published = await _publishing(ctx, serve.url, row.scenario, s.slow_rate, s.slow_seconds)
        await rx.mode("ok")
        # A request that hangs from just before the switch is given up SLOW_TIMEOUT s later.
        fault_end = time.time() + SLOW_TIMEOUT
        row = await tally(
            row, rx, Api(ctx.session, serve.url), webhooks, published, fault_end,
            wait=s.drain_wait,
        )  # fmt: skip
        unexplained = answered_twice(await rx.pairs())
        row.checks["duplicates only for timed-out requests"] = unexplained == 0
        return row
    finally:
        rig.close()


SCENARIOS: dict[str, Callable[[Context], Awaitable[Row]]] = {
    "sqlite-kill9": sqlite_kill9,
    "pg-workers-kill": pg_workers_kill,
    "pg-down": pg_down,
    "receiver-down": receiver_down,
    "receiver-slow": receiver_slow,
}

__all__ = ["FULL", "QUICK", "SCENARIOS", "Context", "Sizes"]
