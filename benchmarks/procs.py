"""Child processes of the harness: start, wait until ready, measure, stop.

Every child gets PR_SET_PDEATHSIG, so a harness killed with SIGKILL takes its
servers with it, and every child is stopped by its own pid (its process group
for Celery, whose pool forks) when the scenario that started it ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One process started by the harness, its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        group: bool = False,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.env = env
        self.cwd = cwd
        self.group = group  # signal the whole process group (prefork pools)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} not started"
        return self.proc.pid

    def start(self) -> Child:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                start_new_session=self.group,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self, tail: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-tail:]
        return ""

    def wait_until(self, ready: Callable[[], bool], timeout: float = 60.0) -> None:
        """Poll `ready` until true; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.output()}")
            with contextlib.suppress(OSError):
                if ready():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout:g} s:\n{self.output()}")

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        def ok() -> bool:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)

        self.wait_until(ok, timeout)

    def wait_output(self, text: str, timeout: float = 60.0) -> None:
        self.wait_until(lambda: text in self.output(tail=1 << 16), timeout)

    def peak_rss_mib(self) -> float:
        """Return the process's peak resident set (VmHWM) in MiB."""
        return _status_kib(self.pid, "VmHWM") / 1024

    def cpu_seconds(self) -> float:
        """Return the CPU time (user + system) of the process and its children so far."""
        return _cpu_ticks(self.pid, own_reaped=True) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, wait up to `timeout`, then SIGKILL."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(10)
        elif self.group:
            self._signal(signal.SIGKILL)  # leftover pool children

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            if self.group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)


def _cpu_ticks(pid: int, *, own_reaped: bool = False) -> int:
    """Return the CPU ticks of `pid` and its live descendants (plus its reaped children's)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        kids = [
            int(k)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for k in (task / "children").read_text().split()
        ]
    except (FileNotFoundError, ProcessLookupError):
        return 0
    ticks = int(fields[11]) + int(fields[12])
    if own_reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks + sum(_cpu_ticks(k) for k in kids)


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def python(*args: str) -> list[str]:
    """Return argv running this interpreter (the project's virtualenv)."""
    return [sys.executable, *args]


class Children:
    """Every child of one scenario; stops them all, newest first, on exit."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._started: list[Child] = []

    def __len__(self) -> int:
        return len(self._started)

    def start(self, child: Child) -> Child:
        self._started.append(child)
        return child.start()

    def stop_all(self) -> None:
        while self._started:
            with contextlib.suppress(Exception):
                self._started.pop().stop()

    @contextlib.contextmanager
    def scope(self) -> Iterator[Children]:
        try:
            yield self
        finally:
            self.stop_all()
