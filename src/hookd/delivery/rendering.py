"""Render templated requests away from the event loop, one app's renders behind each other.

Jinja holds the GIL while it renders, so a render in a thread still takes
the CPU from the event loop that serves the API and sends requests: a
template that runs for a second slows every other app's publishes. So a
templated request is built in a small pool of render processes:

    render(build, app_id, system)
      1  wait for the app's turn: at most `renders_per_app` of one app's renders
         run at once in this process (the rest queue behind them, not everyone),
         never all the render processes; a render that would wait longer than
         QUEUE_FACTOR time limits (foreseen from the app's recent render times)
         fails at once instead, so a slow app cannot fill the worker's slots
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
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
import types
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from hookd.delivery.request import OutgoingRequest, RenderError, System

__all__ = ["GRACE", "NICENESS", "QUEUE_FACTOR", "RenderBug", "fault_words", "render", "shutdown"]

log = logging.getLogger(__name__)

GRACE = 1.0  # seconds past the time limit before a render process is killed
QUEUE_FACTOR = 5  # an app's render waits at most this many time limits for its turn
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
    # One app never holds every render process: the others' renders always have one.
    limit = system.renders_per_app
    if system.render_processes > 1:
        limit = min(limit, system.render_processes - 1)
    async with _gate(app_id, limit, queue_seconds=QUEUE_FACTOR * system.max_seconds):
        started = time.monotonic()
        try:
            if system.render_processes <= 0:
                return await asyncio.to_thread(_in_thread, build)
            pool = _pool(system.render_processes)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(pool.executor, pool.run, build, system.max_seconds)
        finally:
            _COSTS.note(app_id, time.monotonic() - started)


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


class _Costs:
    """How long each app's renders took lately (a moving average), to foresee its queue."""

    def __init__(self, most: int = 10_000) -> None:
        self._seconds: dict[str, float] = {}
        self._most = most

    def note(self, app_id: str, seconds: float) -> None:
        before = self._seconds.get(app_id)
        self._seconds[app_id] = seconds if before is None else 0.7 * before + 0.3 * seconds
        if len(self._seconds) > self._most:  # forget everyone rather than grow without end
            self._seconds = {app_id: self._seconds[app_id]}

    def of(self, app_id: str) -> float:
        return self._seconds.get(app_id, 0.0)


_COSTS = _Costs()


@dataclass
class _Gate:
    running: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)


# Per event loop, so that gates never outlive the loop their futures belong to.
_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Gate]] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def _gate(app_id: str, limit: int, *, queue_seconds: float) -> AsyncIterator[None]:
    """Wait for one of the app's `limit` turns; refuse to queue longer than `queue_seconds`.

    A render waiting for its turn holds a delivery slot of the worker; an app
    whose renders are slow would otherwise fill every slot with its queue.
    """
    gates = _GATES.setdefault(asyncio.get_running_loop(), {})
    gate = gates.setdefault(app_id, _Gate())
    limit = max(1, limit)
    if gate.running >= limit or gate.waiting:
        expected = (len(gate.waiting) + 1) * _COSTS.of(app_id) / limit
        if expected > queue_seconds:
            raise RenderError(
                f"this app's templates render slowly: the render would wait about"
                f" {expected:.0f} s for its turn (longer than {queue_seconds:g} s)"
            )
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        gate.waiting.append(turn)
        try:
            await turn  # the finishing render passes its slot on: `running` stays counted
        except BaseException:
            if turn.done() and not turn.cancelled():
                _pass_on(gates, app_id, gate)  # handed a slot while being cancelled
            else:
                with contextlib.suppress(ValueError):  # already passed over, as cancelled
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
        # Lower its priority first: starting (the imports) should not compete with hookd either.
        code = (
            f"import os; os.nice({NICENESS}); from hookd.delivery.rendering import _serve; _serve()"
        )
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
    """`size` render processes, each driven by one of `size` pool threads at a time.

    Processes start at once, in the background; one killed or dead is replaced
    in the background too, so the next render takes a process already started.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.executor = ThreadPoolExecutor(size, thread_name_prefix="hookd-render")
        self._idle: queue.SimpleQueue[_Process] = queue.SimpleQueue()
        self._all: set[_Process] = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(size):
            self._replace()

    def run(self, build: Callable[[], OutgoingRequest], seconds: float) -> OutgoingRequest:
        """Build in an idle render process; kill it if it overruns the time limit."""
        job = pickle.dumps(build, protocol=pickle.HIGHEST_PROTOCOL)
        process = self._take()
        answer: bytes | None = None
        try:
            process.send.send_bytes(job)
            if process.receive.poll(seconds + GRACE):
                answer = process.receive.recv_bytes()
        except (OSError, EOFError):
            self._retire(process)
            code = process.proc.poll()
            raise RenderError(f"the render process stopped while rendering (exit {code})") from None
        if answer is None:
            self._retire(process)
            raise RenderError(f"rendering took longer than {seconds:g} s; it was stopped")
        self._idle.put(process)
        kind, value = pickle.loads(answer)  # noqa: S301 - from our own render process
        if kind == "ok":
            request: OutgoingRequest = value
            return request
        if kind == "template":
            raise RenderError(value)
        raise RenderBug(value)

    def _take(self) -> _Process:
        """Return an idle render process that is still alive (replacing dead ones)."""
        while True:
            try:
                process = self._idle.get(timeout=_START_SECONDS)
            except queue.Empty:
                raise RenderBug(f"no render process started within {_START_SECONDS:g} s") from None
            if process.proc.poll() is None:
                return process
            log.warning(
                "a render process exited while idle (%s); starting another", process.proc.returncode
            )
            self._retire(process)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            processes, self._all = self._all, set()
        for process in processes:
            process.kill()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _retire(self, process: _Process) -> None:
        process.kill()
        with self._lock:
            self._all.discard(process)
        self._replace()

    def _replace(self) -> None:
        threading.Thread(target=self._start_one, name="hookd-render-start", daemon=True).start()

    def _start_one(self) -> None:
        delay = 1.0
        while not self._closed:
            try:
                process = _Process()
            except Exception:
                log.exception("starting a render process failed; trying again in %g s", delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            with self._lock:
                if not self._closed:
                    self._all.add(process)
                    self._idle.put(process)
                    return
            process.kill()


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
    _without_the_store()
    receive = Connection(int(sys.argv[1]), writable=False)
    send = Connection(int(sys.argv[2]), readable=False)
    with contextlib.suppress(EOFError, OSError):  # either pipe closed: hookd is gone
        send.send_bytes(b"ready")
        while True:
            job = receive.recv_bytes()
            try:
                answer = pickle.dumps(_answer(job), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # an answer that does not pickle is hookd's bug
                answer = pickle.dumps(("bug", f"{type(exc).__name__}: {exc}"))
            send.send_bytes(answer)


def _without_the_store() -> None:
    """Let jobs unpickle `hookd.store.records` without the store package's SQLAlchemy.

    The records are plain dataclasses; the package would import every repository
    and the database drivers, tripling a render process's memory (~30 -> ~85 MB).
    """
    if "hookd.store" in sys.modules:
        return
    package = types.ModuleType("hookd.store")
    package.__path__ = [str(Path(__file__).resolve().parent.parent / "store")]
    sys.modules["hookd.store"] = package


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
