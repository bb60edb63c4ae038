"""Load generators. Every loop is bounded by a count and a deadline and stops by itself.

    closed_loop(send, total, concurrency, seconds)   as fast as answers come back
    steady(send, rate, seconds)                      an open loop at a fixed rate
    wait_for(predicate, seconds)                     poll until true or the deadline

Latency in an open loop is measured from when a request was *due*, not from
when it was sent, so a server that falls behind cannot hide its queueing
(coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Closed:
    completed: int
    errors: int
    seconds: float
    error_sample: str = ""

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0


async def closed_loop(
    send: Callable[[int], Awaitable[None]],
    *,
    total: int,
    concurrency: int,
    seconds: float,
) -> Closed:
    """Call `send(i)` for i < total from `concurrency` tasks, until done or `seconds` pass."""
    counter = itertools.count()
    completed = errors = 0
    sample = ""
    started = time.perf_counter()
    deadline = started + seconds

    async def lane() -> None:
        nonlocal completed, errors, sample
        while (i := next(counter)) < total and time.perf_counter() < deadline:
            try:
                await send(i)
                completed += 1
            except Exception as exc:
                errors += 1
                sample = sample or f"{type(exc).__name__}: {exc}"

    lanes = [asyncio.create_task(lane()) for _ in range(concurrency)]
    # Lanes stuck on a request past the deadline are cancelled by wait_for.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*lanes), timeout=seconds + 30)
    return Closed(completed, errors, time.perf_counter() - started, sample)


@dataclass
class Steady:
    """An open-loop run: when each request was due (wall clock) and what it returned."""

    rate: float
    planned: int
    due: dict[str, float] = field(default_factory=dict)  # event id -> due time
    answer_ms: list[float] = field(default_factory=list)  # due -> answer (publish latency)
    errors: int = 0
    error_sample: str = ""
    skipped: int = 0  # not sent: too many requests already outstanding
    seconds: float = 0.0

    @property
    def achieved(self) -> float:
        return len(self.due) / self.seconds if self.seconds else 0.0


async def steady(
    send: Callable[[int], Awaitable[str]],
    *,
    rate: float,
    seconds: float,
    max_outstanding: int = 2000,
) -> Steady:
    """Call `send(i)` at `rate` per second for `seconds`; `send` returns the event id."""
    planned = max(1, int(rate * seconds))
    run = Steady(rate, planned)
    loop = asyncio.get_running_loop()
    wall_offset = time.time() - loop.time()
    start = loop.time() + 0.05
    outstanding: set[asyncio.Task[None]] = set()

    async def one(i: int, due: float) -> None:
        try:
            event_id = await send(i)
        except Exception as exc:
            run.errors += 1
            run.error_sample = run.error_sample or f"{type(exc).__name__}: {exc}"
            return
        run.due[event_id] = due + wall_offset
        run.answer_ms.append((loop.time() - due) * 1000)

    for i in range(planned):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(outstanding) >= max_outstanding:
            run.skipped += 1
            continue
        task = asyncio.create_task(one(i, due))
        outstanding.add(task)
        task.add_done_callback(outstanding.discard)
    if outstanding:
        await asyncio.wait(outstanding, timeout=30)
        for task in outstanding:
            task.cancel()
    run.seconds = max(loop.time() - start, 1e-9)
    return run


async def wait_for(
    predicate: Callable[[], Awaitable[bool]], *, seconds: float, every: float = 0.1
) -> bool:
    """Poll `predicate` until it is true (True) or `seconds` pass (False)."""
    deadline = time.monotonic() + seconds
    while True:
        if await predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every)


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the nearest-rank percentile (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latencies_ms(due: dict[str, float], receipts: Sequence[tuple[str, float]]) -> list[float]:
    """Match receipts to due times by event id; first receipt of each id counts."""
    seen: dict[str, float] = {}
    for event_id, at in receipts:
        if event_id in due and event_id not in seen:
            seen[event_id] = at
    return [(at - due[event_id]) * 1000 for event_id, at in seen.items()]
