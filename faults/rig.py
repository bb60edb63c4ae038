"""The processes of one fault scenario, and the faults done to them.

    Rig(workdir)                       every child of one scenario; `close()` stops them all
      .receiver()          -> Rx       python -m faults.receiver (hook port + control port)
      .hookd(db, ...)      -> Hookd    hookd serve | worker, each in its own process group
      .kill(hookd)                     SIGKILL its whole process group (serve and its workers)
      .restart(hookd)                  start it again, same command, port and settings
    Pg()                               a throwaway PostgreSQL (tests/support/postgres.py)
      .halt() / .resume()              stop the postmaster (data kept) and start it again

Children come from benchmarks.procs: each dies with the harness (PR_SET_PDEATHSIG)
and is stopped by its own process group when the scenario ends, even on failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from benchmarks.procs import Child, Children, free_port, python
from benchmarks.stack import hookd_env

from faults.receiver import Pair


@dataclass
class Rx:
    """The counting receiver, driven through its control port."""

    child: Child
    port: int
    control: int
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def mode(self, name: str, **params: float) -> None:
        async with self.session.post(
            f"http://127.0.0.1:{self.control}/mode", data=orjson.dumps({"mode": name, **params})
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"receiver mode {name}: {await response.text()}")

    async def pairs(self) -> dict[str, Pair]:
        """Return what arrived, by `PATH|event id`."""
        async with self.session.get(f"http://127.0.0.1:{self.control}/pairs") as response:
            found: dict[str, list[Any]] = orjson.loads(await response.read())
        return {k: Pair(*map(int, v[:3]), *map(float, v[3:])) for k, v in found.items()}


@dataclass
class Hookd:
    """One hookd process (and, for serve, its delivery children), restartable."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int | None
    child: Child | None = None
    starts: int = 0
    kills: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.port is not None, "a hookd worker has no API"
        return f"http://127.0.0.1:{self.port}"


class Rig:
    def __init__(self, workdir: Path, session: aiohttp.ClientSession) -> None:
        self.workdir = workdir
        self.session = session
        self.children = Children(workdir)
        self._groups: list[Child] = []

    def receiver(self) -> Rx:
        port, control = free_port(), free_port()
        child = Child(
            f"receiver-{port}",
            python("-m", "faults.receiver", "--port", str(port), "--control", str(control)),
            log=self.workdir / "receiver.log",
            group=True,
        )
        self._groups.append(child)
        self.children.start(child).wait_output("receiver listening", timeout=30)
        return Rx(child, port, control, self.session)

    def hookd(
        self, db: str, *, command: str = "serve", worker: bool = True, **settings: object
    ) -> Hookd:
        """Start `hookd serve` (with or without delivery) or `hookd worker`; wait until up."""
        port = free_port() if command == "serve" else None
        argv = python("-m", "hookd", command)
        if command == "serve" and not worker:
            argv.append("--no-worker")
        name = f"hookd-{command}-{port or len(self.children)}"
        hookd = Hookd(name, argv, hookd_env(db, port, **settings), port)
        self.start(hookd)
        return hookd

    def start(self, hookd: Hookd) -> None:
        hookd.starts += 1
        child = Child(
            f"{hookd.name}#{hookd.starts}",
            hookd.argv,
            log=self.workdir / f"{hookd.name}.log",
            env=hookd.env,
            cwd=self.workdir,
            group=True,  # kill -9 takes the serve and its delivery children together
        )
        self._groups.append(child)
        hookd.child = self.children.start(child)
        if hookd.port is None:
            offset = len(child.output(tail=1 << 20))
            child.wait_until(lambda: "delivering from" in child.output(tail=1 << 20)[offset:])
        else:
            child.wait_http(f"{hookd.url}/healthz", timeout=60)

    def kill(self, hookd: Hookd) -> None:
        """SIGKILL the process group of `hookd` and reap it."""
        assert hookd.child is not None and hookd.child.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(hookd.child.pid, signal.SIGKILL)
        hookd.child.proc.wait(10)
        hookd.kills.append(time.time())

    def restart(self, hookd: Hookd) -> None:
        self.start(hookd)

    def signal(self, hookd: Hookd, sig: signal.Signals) -> None:
        assert hookd.child is not None
        os.killpg(hookd.child.pid, sig)

    def close(self) -> None:
        """SIGKILL every process group started (a stopped one too), then reap them."""
        # Only groups whose leader is not reaped yet: a reaped pid may belong to someone else.
        for child in self._groups:
            if child.alive():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.pid, signal.SIGKILL)
        for child in self._groups:
            if child.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(10)


class Pg:
    """A throwaway PostgreSQL server that can be stopped and started again, data kept."""

    def __init__(self) -> None:
        from tests.support.postgres import PostgresServer

        self.server = PostgresServer()

    def start(self) -> None:
        self.server.start()

    def database(self, name: str) -> str:
        return self.server.create_database(name)

    def halt(self) -> None:
        """Stop the postmaster (fast shutdown: clients are disconnected at once)."""
        self._pg_ctl("-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._pg_ctl("-l", str(self.server.logfile), "-t", "30", "-w", "start")

    def close(self) -> None:
        self.server.stop()

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.server.bin_dir / "pg_ctl"), "-D", str(self.server.datadir), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, cwd="/", capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)}: {done.stdout}{done.stderr}")
