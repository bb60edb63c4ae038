"""Render templated requests away from the event loop, one app's renders behind each other.

Jinja holds the GIL while it renders, so a render in a thread still takes
the CPU from the event loop that serves the API and sends requests: a
template that runs for a second slows every other app's publishes. So a
templated request is built in a small pool of render processes:

    render(build, app_id, system)
      1  wait for the app's turn: at most `renders_per_app` of one app's renders
         run at once in this process (the rest queue behind them, not everyone)
      2  a pool thread hands `build` to its render process (`render_processes`
         of them, started on first use, at a lower CPU priority than hookd)
      3  the template stops itself at `max_seconds` (domain/template.py); a render
         still running `GRACE` seconds later is killed and its process replaced
      4  the request comes back, or RenderError (`template_error`) with words, or
         RenderBug (`internal_error`) when hookd's own code failed in there

`render_processes = 0` renders in a thread instead: no process start-up, no
isolation and no enforced time limit beyond the template's own checks.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import traceback
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from hookd.delivery.request import OutgoingRequest, RenderError, System

__all__ = ["GRACE", "NICENESS", "RenderBug", "fault_words", "render", "shutdown"]

log = logging.getLogger(__name__)

GRACE = 1.0  # seconds past the time limit before a render process is killed
NICENESS = 10  # render processes yield the CPU to the API and the senders
_START_SECONDS = 30.0  # a render process that does not answer its first byte by then is broken


class RenderBug(RuntimeError):
    """hookd's own code failed while building a request (`internal_error`)."""


def fault_words(exc: BaseException) -> str:
    """Return words for a template that broke Python's limits while rendering."""
    if isinstance(exc, RecursionError):
        return "template nested too deeply (Python's recursion limit while rendering)"
    return "template needs more memory than hookd has for one render"


async def render(
    build: Callable[[], OutgoingRequest], app_id: str, system: System
) -> OutgoingRequest:
    """Run `build` in a render process in `app_id`'s turn; raise RenderError or RenderBug."""
    async with _gate(app_id, system.renders_per_app):
        if system.render_processes <= 0:
            return await asyncio.to_thread(_in_thread, build)
        pool = _pool(system.render_processes)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool.executor, pool.run, build, system.max_seconds)


def shutdown() -> None:
    """Stop the render processes (they also stop by themselves when hookd exits)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.close()


def _in_thread(build: Callable[[], OutgoingRequest]) -> OutgoingRequest:
    try:
        return build()
    except (RecursionError, MemoryError) as exc:
        raise RenderError(fault_words(exc)) from None


# -- one app's turn --------------------------------------------------------------------


@dataclass
class _Gate:
    running: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)


# Per event loop, so that gates never outlive the loop their futures belong to.
_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Gate]] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def _gate(app_id: str, limit: int) -> AsyncIterator[None]:
    gates = _GATES.setdefault(asyncio.get_running_loop(), {})
    gate = gates.setdefault(app_id, _Gate())
    if gate.running >= max(1, limit) or gate.waiting:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        gate.waiting.append(turn)
        try:
            await turn  # the finishing render passes its slot on: `running` stays counted
        except BaseException:
            if turn.done() and not turn.cancelled():
                _pass_on(gates, app_id, gate)  # handed a slot while being cancelled
            else:
                gate.waiting.remove(turn)
            raise
    else:
        gate.running += 1
    try:
        yield
    finally:
        _pass_on(gates, app_id, gate)


def _pass_on(gates: dict[str, _Gate], app_id: str, gate: _Gate) -> None:
    """Give a finished render's slot to the next one waiting, or free it."""
    while gate.waiting:
        turn = gate.waiting.popleft()
        if not turn.done():
            turn.set_result(None)
            return
    gate.running -= 1
    if gate.running <= 0 and gates.get(app_id) is gate:
        del gates[app_id]


# -- the pool of render processes -------------------------------------------------------


class _Process:
    """One render process and the two pipes to it."""

    def __init__(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        code = "from hookd.delivery.rendering import _serve; _serve()"
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, fixed code
                [sys.executable, "-c", code, str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.send = Connection(to_child_w, readable=False)
        self.receive = Connection(from_child_r, writable=False)
        if not self.receive.poll(_START_SECONDS) or self.receive.recv_bytes() != b"ready":
            self.kill()
            raise RenderBug("a render process did not start")

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self.proc.wait(5)
        for conn in (self.send, self.receive):
            with contextlib.suppress(OSError):
                conn.close()


class _Pool:
    """`size` threads, each driving its own render process (started on first use)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.executor = ThreadPoolExecutor(size, thread_name_prefix="hookd-render")
        self._mine = threading.local()
        self._all: set[_Process] = set()
        self._lock = threading.Lock()
        self._closed = False

    def run(self, build: Callable[[], OutgoingRequest], seconds: float) -> OutgoingRequest:
        """Build in this thread's render process; kill it if it overruns the time limit."""
        job = pickle.dumps(build, protocol=pickle.HIGHEST_PROTOCOL)
        process = self._process()
        try:
            process.send.send_bytes(job)
            finished = process.receive.poll(seconds + GRACE)
            answer = process.receive.recv_bytes() if finished else None
        except (OSError, EOFError):
            self._drop(process)
            code = process.proc.returncode
            raise RenderError(f"the render process stopped while rendering (exit {code})") from None
        if answer is None:
            self._drop(process)
            raise RenderError(f"rendering took longer than {seconds:g} s; it was stopped")
        kind, value = pickle.loads(answer)  # noqa: S301 - from our own render process
        if kind == "ok":
            request: OutgoingRequest = value
            return request
        if kind == "template":
            raise RenderError(value)
        raise RenderBug(value)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            processes, self._all = self._all, set()
        for process in processes:
            process.kill()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _process(self) -> _Process:
        process: _Process | None = getattr(self._mine, "process", None)
        if process is None or process.proc.poll() is not None:
            if process is not None:
                self._drop(process)
            process = _Process()
            with self._lock:
                if self._closed:
                    process.kill()
                    raise RenderBug("the render pool is closed")
                self._all.add(process)
            self._mine.process = process
        return process

    def _drop(self, process: _Process) -> None:
        process.kill()
        with self._lock:
            self._all.discard(process)
        if getattr(self._mine, "process", None) is process:
            self._mine.process = None


_POOL: _Pool | None = None
_POOL_LOCK = threading.Lock()


def _pool(size: int) -> _Pool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None and _POOL.size == size:
            return _POOL
        old, _POOL = _POOL, _Pool(size)
        pool = _POOL
    if old is not None:
        old.close()
    return pool


atexit.register(shutdown)


# -- inside a render process -------------------------------------------------------------


def _serve() -> None:
    """Run in a render process: build each request sent, answer with it or an error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops hookd, which stops us
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    receive = Connection(int(sys.argv[1]), writable=False)
    send = Connection(int(sys.argv[2]), readable=False)
    send.send_bytes(b"ready")
    while True:
        try:
            job = receive.recv_bytes()
        except (EOFError, OSError):
            return  # hookd is gone
        try:
            answer = pickle.dumps(_answer(job), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an answer that does not pickle is hookd's bug
            answer = pickle.dumps(("bug", f"{type(exc).__name__}: {exc}"))
        send.send_bytes(answer)


def _answer(job: bytes) -> tuple[str, object]:
    try:
        build = pickle.loads(job)  # noqa: S301 - from the hookd that started us
        return ("ok", build())
    except RenderError as exc:
        return ("template", str(exc))
    except (RecursionError, MemoryError) as exc:
        return ("template", fault_words(exc))
    except Exception as exc:
        lines = traceback.format_exception(exc)
        return ("bug", f"{type(exc).__name__}: {exc}\n{''.join(lines)}")
