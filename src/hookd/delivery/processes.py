"""More delivery processes beside `hookd serve` (`HOOKD_DELIVERY_PROCESSES`).

One Python process delivers on one core. With `HOOKD_DELIVERY_PROCESSES=N`
(default: the usable cores, `os.sched_getaffinity`), `hookd serve` keeps its
own worker beside the API and starts N-1 `hookd worker --follow-parent`
children on the same database (SQLite's WAL and `BEGIN IMMEDIATE`, or
PostgreSQL's `SKIP LOCKED`, keep their claims apart):

    parent ──a byte on the child's stdin per burst of new work──▶ child wakes up
            (on SQLite there is no LISTEN/NOTIFY; polling stays the fallback)
    parent exits, even by kill -9 ──stdin closes──▶ child stops, giving back
            what it holds (`Followed`)
    parent stops ──SIGTERM──▶ child finishes in-flight attempts within
            HOOKD_SHUTDOWN_GRACE, then is killed
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable

from hookd.config import Settings

__all__ = ["Children", "follow"]

log = logging.getLogger(__name__)


class Children:
    """The extra delivery processes of one `hookd serve`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._procs: list[asyncio.subprocess.Process] = []
        self._wake_due = False

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    async def start(self, count: int) -> None:
        env = {
            **os.environ,
            # The parent's settings may have come from options, not the environment.
            "HOOKD_DB": self._settings.db,
            "HOOKD_DEV": "true" if self._settings.dev else "false",
        }
        for _ in range(count):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "hookd",
                "worker",
                "--follow-parent",
                stdin=asyncio.subprocess.PIPE,
                env=env,
            )
            self._procs.append(proc)
        log.info("started %d more delivery processes: %s", count, self.pids)

    def wake(self) -> None:
        """Tell the children new work is due (one byte each per loop iteration at most)."""
        if self._wake_due or not self._procs:
            return
        self._wake_due = True
        asyncio.get_running_loop().call_soon(self._send_wake)

    def _send_wake(self) -> None:
        self._wake_due = False
        for proc in self._procs:
            if proc.stdin is not None and not proc.stdin.is_closing():
                with contextlib.suppress(OSError, RuntimeError):
                    proc.stdin.write(b"w")

    async def stop(self) -> None:
        """Stop every child: SIGTERM, then SIGKILL after the shutdown grace."""
        for proc in self._procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for proc in self._procs:
            try:
                await asyncio.wait_for(proc.wait(), self._settings.shutdown_grace + 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self._procs.clear()


class _Follow(asyncio.Protocol):
    def __init__(self, wake: Callable[[], None], stop: Callable[[], None]) -> None:
        self._wake = wake
        self._stop = stop

    def data_received(self, data: bytes) -> None:
        self._wake()

    def eof_received(self) -> bool:
        self._stop()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()


async def follow(wake: Callable[[], None], stop: Callable[[], None]) -> None:
    """In a child: wake on each byte from the parent; stop when the parent is gone."""
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: _Follow(wake, stop), sys.stdin)
