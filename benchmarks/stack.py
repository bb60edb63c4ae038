"""The servers a scenario runs: sinks and hookd processes, each a child on loopback.

    start_sink(children, mode)        -> Sink      python -m benchmarks.sink
    start_hookd(children, db, ...)    -> Hookd     python -m hookd serve | worker

The harness talks to a sink through its `/_sink/` controls and to hookd
through its HTTP API (benchmarks.api).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import aiohttp
import orjson

from benchmarks.procs import Child, Children, free_port, python

ADMIN_KEY = "hk_benchmark_admin_key_0123456789abcdef"

# hookd settings every benchmark process gets; scenarios add their own.
BASE_SETTINGS = {
    "DEV": "1",  # webhooks on http://127.0.0.1
    "LOG_LEVEL": "warning",
    "ADMIN_KEY": ADMIN_KEY,
    # Nothing else: figures are for hookd's defaults (HOOKD_DELIVERY_PROCESSES
    # is one per usable core). A scenario that sets a knob names it in its rows.
}


@dataclass
class Sink:
    child: Child
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stats(self, session: aiohttp.ClientSession) -> dict[str, float]:
        async with session.get(f"{self.url}/_sink/stats") as response:
            stats: dict[str, float] = orjson.loads(await response.read())
            return stats

    async def receipts(self, session: aiohttp.ClientSession) -> list[tuple[str, float]]:
        async with session.get(f"{self.url}/_sink/receipts") as response:
            return [(i, t) for i, t in orjson.loads(await response.read())]

    async def reset(self, session: aiohttp.ClientSession) -> None:
        async with session.post(f"{self.url}/_sink/reset") as response:
            await response.read()


def start_sink(children: Children, mode: str = "ok") -> Sink:
    port = free_port()
    child = Child(
        f"sink-{mode}-{port}",
        python("-m", "benchmarks.sink", "--port", str(port), "--mode", mode),
        log=children.workdir / f"sink-{port}.log",
    )
    children.start(child).wait_output("sink listening", timeout=30)
    return Sink(child, port)


@dataclass
class Hookd:
    child: Child
    port: int | None  # None for `hookd worker`

    @property
    def url(self) -> str:
        assert self.port is not None, "a hookd worker has no API"
        return f"http://127.0.0.1:{self.port}"


def hookd_env(db: str, port: int | None = None, **settings: object) -> dict[str, str]:
    """Return the environment of a hookd process: ours, minus any HOOKD_* of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKD_")}
    env.update({f"HOOKD_{k}": v for k, v in BASE_SETTINGS.items()})
    env["HOOKD_DB"] = db
    if port is not None:
        env.update(HOOKD_HOST="127.0.0.1", HOOKD_PORT=str(port))
    env.update({f"HOOKD_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def start_hookd(
    children: Children,
    db: str,
    *,
    command: str = "serve",
    worker: bool = True,
    **settings: object,
) -> Hookd:
    """Start `hookd serve` (API, with or without the worker) or `hookd worker`; wait for it."""
    port = free_port() if command == "serve" else None
    argv = python("-m", "hookd", command)
    if command == "serve" and not worker:
        argv.append("--no-worker")
    name = f"hookd-{command}-{port or len(children)}"
    child = Child(
        name,
        argv,
        log=children.workdir / f"{name}.log",
        env=hookd_env(db, port, **settings),
        cwd=children.workdir,
    )
    children.start(child)
    if port is None:
        child.wait_output("delivering from")
    else:
        child.wait_http(f"http://127.0.0.1:{port}/healthz")
    return Hookd(child, port)
