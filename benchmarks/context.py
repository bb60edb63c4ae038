"""What every scenario gets: the sizes of this run, a scratch folder, shared figures.

Sizes come in two sets: the full run the targets are judged on, and `--quick`,
the same code at a size that smoke-tests the harness in seconds.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks.procs import Child, Children


def py_spy() -> str:
    """Return py-spy from PATH or next to this interpreter (the virtualenv)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or str(beside)


SPY = [py_spy(), "record", "--rate", "200", "--format", "raw", "--threads", "--nonblocking"]


@dataclass(frozen=True)
class Sizes:
    webhooks: int = 10  # scenarios 1, 3, 5, 6: one event type per webhook
    deliveries: int = 50_000  # scenario 1 (and 8): pre-published events, one delivery each
    ingest_single: int = 20_000  # scenario 2: single-event calls
    ingest_batches: int = 2_000  # scenario 2: batch calls of `batch_size`
    batch_size: int = 100
    ingest_concurrency: int = 64
    batch_concurrency: int = 8
    rates: tuple[int, ...] = (200, 1000)  # scenario 3: events/s
    steady_seconds: float = 30.0
    fanout_webhooks: int = 1000
    fanout_rounds: int = 10  # scenario 4: publishes at the full width
    publish_samples: int = 10  # scenario 4: publishes per fan-out width
    backlog: int = 1_000_000
    backlog_window: int = 100_000  # deliveries timed out of the backlog
    celery_tasks: int = 20_000
    sustained_max_seconds: float = 20.0  # scenario 10: publishing and delivering flat out
    sustained_seconds: float = 60.0  # scenario 10: publishing at half that rate
    time_limit: float = 180.0  # upper bound of any one measured phase, seconds


FULL = Sizes()
QUICK = Sizes(
    deliveries=2_000,
    ingest_single=1_000,
    ingest_batches=40,
    rates=(200, 500),
    steady_seconds=2.0,
    fanout_webhooks=50,
    fanout_rounds=1,
    publish_samples=3,
    backlog=20_000,
    backlog_window=5_000,
    celery_tasks=500,
    sustained_max_seconds=3.0,
    sustained_seconds=3.0,
    time_limit=30.0,
)


@dataclass
class Bench:
    """One run of the harness."""

    sizes: Sizes
    root: Path
    session: aiohttp.ClientSession
    quick: bool = False
    profile_dir: Path | None = None
    shared: dict[str, float] = field(default_factory=dict)

    def workdir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def children(self, name: str) -> Children:
        return Children(self.workdir(name))

    async def figure(self, key: str, measure: Callable[[], Awaitable[None]]) -> float:
        """Return a figure another scenario recorded in this run, measuring it if missing."""
        if key not in self.shared:
            await measure()
        return self.shared[key]

    @contextlib.asynccontextmanager
    async def measured(self, name: str, children: list[Child]) -> AsyncIterator[Usage]:
        """Meter the CPU the given processes use in the block; sample them with --profile."""
        usage = Usage({c.name: c.cpu_seconds() for c in children}, time.perf_counter())
        spies = self._spies(name, children)
        try:
            yield usage
        finally:
            usage.seconds = time.perf_counter() - usage.started
            for child in children:
                with contextlib.suppress(OSError):
                    usage.cpu[child.name] = child.cpu_seconds() - usage.cpu[child.name]
            _stop_spies(spies)

    def _spies(self, name: str, children: list[Child]) -> list[subprocess.Popen[bytes]]:
        if self.profile_dir is None:
            return []
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        return [
            subprocess.Popen(
                [
                    *SPY,
                    "--pid",
                    str(child.pid),
                    "-o",
                    str(self.profile_dir / f"{name}-{child.name}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for child in children
        ]


@dataclass
class Usage:
    """CPU seconds each process used while a block ran, and how long it ran."""

    cpu: dict[str, float]
    started: float
    seconds: float = 0.0

    def describe(self) -> str:
        shares = ", ".join(
            f"{name} {cpu / self.seconds:.0%}" for name, cpu in self.cpu.items() if self.seconds
        )
        return f"CPU while measuring (share of one core): {shares}"


def _stop_spies(spies: list[subprocess.Popen[bytes]]) -> None:
    for spy in spies:
        spy.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 30
    for spy in spies:
        try:
            spy.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            spy.kill()
