"""A real HTTP/1.1 receiver on loopback whose answers a test scripts.

It runs on a raw asyncio server in a background thread with its own event
loop, so sync tests, async tests (on their own loop) and subprocesses under
test can all talk to it. HTTP is parsed by hand because some faults need
byte-level control: hang, reset (RST), drip, close without answering.

    with Receiver() as rx:
        rx.script(Reply(500), Reply(200))          # first 500, then 200
        rx.script(Reply(action="hang"), path="/slow")
        ... point hookd at rx.url ...
        rx.wait_for(2)
        assert rx.count_by("webhook-id") == {"evt_1": 2}

Which reply a request gets: the queue scripted for its path, then the global
queue, then the handler set with `set_handler`, then `default`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

__all__ = ["Receiver", "Reply", "Request"]

ACTIONS = (None, "hang", "reset", "drip", "close")
_CHUNK = b"x" * 65536
_HEADER_LIMIT = 1 << 20


@dataclass
class Request:
    """One request as the receiver read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    version: str = "HTTP/1.1"
    peer: str = ""  # the client's "host:port": tells connections apart

    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)

    @property
    def route(self) -> str:
        """Return the path without its query string."""
        return self.path.partition("?")[0]


@dataclass
class Reply:
    """How the receiver answers one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    action: str | None = None
    drip_interval: float = 1.0
    body_size: int | None = None
    # For action="reset": bytes of the response sent before the RST (default: half).
    reset_after: int | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; expected one of {ACTIONS}")


class _BadRequest(Exception):
    pass


class Receiver:
    """Accept HTTP requests on loopback, record them, answer as scripted."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, use_uvloop: bool = True) -> None:
        self.host = host
        self.port = port
        self.use_uvloop = use_uvloop  # ~1.5x the requests per second of the default loop
        self.default = Reply(200)
        self.errors: list[BaseException] = []
        self._handler: Callable[[Request], Reply] | None = None
        self._cond = threading.Condition()
        self._requests: list[Request] = []
        self._by_path: dict[str, list[Request]] = collections.defaultdict(list)
        self._queue: collections.deque[Reply] = collections.deque()
        self._path_queues: dict[str, collections.deque[Reply]] = collections.defaultdict(
            collections.deque
        )
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- lifecycle -------------------------------------------------------

    @property
    def url(self) -> str:
        """Return the base URL, e.g. `http://127.0.0.1:PORT`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Receiver:
        """Start listening in a background thread; return self."""
        if self._thread is not None:
            raise RuntimeError("receiver already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = _new_loop(self.use_uvloop)
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"receiver-{id(self):x}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close the server and every connection, hanging ones included; join the thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            future.result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port, limit=_HEADER_LIMIT, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        # Every other task serves a connection, including any not yet started.
        others = asyncio.all_tasks() - {asyncio.current_task()}
        for task in others:
            task.cancel()
        if others:
            await asyncio.gather(*others, return_exceptions=True)
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
        # Let the transports' connection_lost callbacks run before the loop stops.
        for _ in range(3):
            await asyncio.sleep(0)

    # -- scripting -------------------------------------------------------

    def script(self, *replies: Reply, path: str | None = None) -> None:
        """Queue replies, for one path when given, else for any path."""
        with self._cond:
            queue = self._queue if path is None else self._path_queues[path]
            queue.extend(replies)

    def set_handler(self, fn: Callable[[Request], Reply] | None) -> None:
        """Answer with `fn(request)` when no scripted reply is queued."""
        self._handler = fn

    def clear(self) -> None:
        """Forget recorded requests and queued replies."""
        with self._cond:
            self._requests.clear()
            self._by_path.clear()
            self._queue.clear()
            self._path_queues.clear()

    def _choose(self, request: Request) -> Reply:
        with self._cond:
            for key in (request.path, request.route):
                queue = self._path_queues.get(key)
                if queue:
                    return queue.popleft()
            if self._queue:
                return self._queue.popleft()
        handler = self._handler
        if handler is not None:
            return handler(request)
        return self.default

    # -- inspection ------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Return a snapshot of every request received so far."""
        return self.received()

    def received(self, path: str | None = None) -> list[Request]:
        """Return a snapshot of the requests received, for one path when given."""
        with self._cond:
            return list(self._matching(path))

    def _matching(self, path: str | None) -> list[Request]:
        if path is None:
            return self._requests
        return self._by_path.get(path, [])

    def wait_for(
        self, count: int, *, timeout: float = 10.0, path: str | None = None
    ) -> list[Request]:
        """Block until `count` requests arrived; raise AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._matching(path)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._shortfall(count, timeout, path))
                self._cond.wait(remaining)
            return list(self._matching(path))

    async def wait_for_async(
        self, count: int, *, timeout: float = 10.0, path: str | None = None
    ) -> list[Request]:
        """Wait like `wait_for` without blocking the caller's event loop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waiter = (loop, asyncio.Event())
        with self._cond:
            self._async_waiters.append(waiter)
        try:
            while True:
                waiter[1].clear()
                with self._cond:
                    if len(self._matching(path)) >= count:
                        return list(self._matching(path))
                remaining = deadline - loop.time()
                if remaining <= 0:
                    with self._cond:
                        raise AssertionError(self._shortfall(count, timeout, path))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter[1].wait(), remaining)
        finally:
            with self._cond:
                self._async_waiters.remove(waiter)

    def _shortfall(self, count: int, timeout: float, path: str | None) -> str:
        got = self._matching(path)
        where = f" on {path}" if path else ""
        seen = [f"{r.method} {r.path}" for r in got[-20:]]
        return f"expected {count} requests{where} within {timeout}s, got {len(got)}: {seen}"

    def count_by(self, header: str, *, path: str | None = None) -> collections.Counter[str]:
        """Count requests by the value of one header (those without it are left out)."""
        name = header.lower()
        with self._cond:
            values = [r.headers[name] for r in self._matching(path) if name in r.headers]
        return collections.Counter(values)

    def _record(self, request: Request) -> None:
        with self._cond:
            self._requests.append(request)
            self._by_path[request.path].append(request)
            if request.route != request.path:
                self._by_path[request.route].append(request)
            self._cond.notify_all()
            waiters = list(self._async_waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the waiter's loop is closed
                loop.call_soon_threadsafe(event.set)

    # -- HTTP ------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(writer)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:
            self.errors.append(exc)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read and answer one request; tell whether the connection stays open."""
        try:
            request = await self._read_request(reader, writer)
        except _BadRequest as exc:
            writer.write(_response_head(400, {"Connection": "close"}, len(str(exc))))
            writer.write(str(exc).encode())
            await writer.drain()
            return False
        if request is None:
            return False
        self._record(request)
        try:
            reply = self._choose(request)
        except Exception as exc:
            self.errors.append(exc)
            reply = Reply(500, body=f"handler failed: {exc!r}".encode())
        if reply.delay > 0:
            await asyncio.sleep(reply.delay)
        return await self._answer(request, reply, reader, writer)

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise _BadRequest("incomplete request head") from exc
            return None
        except asyncio.LimitOverrunError as exc:
            raise _BadRequest("request head too large") from exc
        lines = head[:-4].decode("latin-1").split("\r\n")
        try:
            method, path, version = lines[0].split(" ")
        except ValueError as exc:
            raise _BadRequest(f"bad request line {lines[0]!r}") from exc
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest(f"bad header line {line!r}")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _BadRequest("chunked request bodies are not supported")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError as exc:
            raise _BadRequest("bad content-length") from exc
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await reader.readexactly(length) if length else b""
        peer = writer.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        return Request(method, path, headers, body, time.time(), version, where)

    async def _answer(
        self,
        request: Request,
        reply: Reply,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        if reply.action == "hang":
            # Never answer; give the connection up only when the client does.
            while await reader.read(65536):
                pass
            return False
        if reply.action == "close":
            return False
        keep_alive = _keeps_alive(request, reply)
        headers = dict(reply.headers)
        if not keep_alive and not any(k.lower() == "connection" for k in headers):
            headers["Connection"] = "close"
        size = reply.body_size if reply.body_size is not None else len(reply.body)
        head = _response_head(reply.status, headers, size)
        if reply.body_size is not None:
            await _stream(writer, head, reply.body_size)
            return keep_alive
        data = head + (b"" if request.method == "HEAD" else reply.body)
        if reply.action == "reset":
            cut = reply.reset_after if reply.reset_after is not None else max(1, len(data) // 2)
            writer.write(data[:cut])
            await writer.drain()
            _reset(writer)
            return False
        if reply.action == "drip":
            for i in range(len(data)):
                writer.write(data[i : i + 1])
                await writer.drain()
                if i + 1 < len(data):
                    await asyncio.sleep(reply.drip_interval)
            return keep_alive
        writer.write(data)
        await writer.drain()
        return keep_alive


def _new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _keeps_alive(request: Request, reply: Reply) -> bool:
    asked = request.headers.get("connection", "").lower()
    answered = next((v.lower() for k, v in reply.headers.items() if k.lower() == "connection"), "")
    if "close" in (asked, answered):
        return False
    if request.version == "HTTP/1.0":
        return asked == "keep-alive"
    return True


def _response_head(status: int, headers: dict[str, str], length: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {status} {phrase}"]
    if not any(k.lower() == "content-length" for k in headers):
        lines.append(f"Content-Length: {length}")
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _stream(writer: asyncio.StreamWriter, head: bytes, size: int) -> None:
    writer.write(head)
    left = size
    while left > 0:
        chunk = _CHUNK if left >= len(_CHUNK) else _CHUNK[:left]
        writer.write(chunk)
        left -= len(chunk)
        await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0 so the kernel sends RST instead of FIN."""
    sock = writer.transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
