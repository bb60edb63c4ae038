"""hookd's HTTP/1.1 client: one request per attempt, on pooled keep-alive connections.

A delivery needs little of HTTP: send one request, read the status, the
headers and a bounded part of the body, keep the connection when the answer
was read whole. This client does just that on asyncio protocols and the
httptools parser, at about a fifth of aiohttp's CPU per request
(docs/benchmarks.md), and keeps every guarantee hookd gives:

    guard        every connection's address passes TargetGuard.socket_factory,
                 after DNS, for IP literals as for names (a name keeps only its
                 allowed addresses; with none, one refused address is tried so
                 the error reads as blocked)
    no chasing   redirects are answers like any other; proxies are never used
    head limit   a status or header line over `max_header_bytes`, more than
                 `max_headers` headers, or a head over their product fails
    body limit   at most `max_body` bytes are kept (gzip and deflate bodies are
                 decoded first); a connection whose answer was not read whole
                 is closed, never reused
    time         callers bound the whole request (asyncio.timeout); a request
                 that does not finish closes its connection
    keep-alive   an idle connection is reused for 15 s; a reused one that
                 closes before answering is retried once on a new connection

Failures raise HttpError, whose `code` and `message` are what the attempt log shows.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import ip_address
from typing import cast

import aiohappyeyeballs
import httptools
import yarl
from aiohappyeyeballs import AddrInfoType

from hookd.delivery.guard import BlockedTarget, TargetGuard

__all__ = ["HttpClient", "HttpError", "Response", "Target", "target_of"]

KEEPALIVE_SECONDS = 15.0
DNS_CACHE_SECONDS = 30.0  # safe to cache: the guard checks addresses, not names
HAPPY_EYEBALLS_DELAY = 0.25
BODYLESS_STATUSES = frozenset({204, 304})
SMALL_BODY = 64 * 1024  # bodies up to this size go out in one write with their head

Resolver = Callable[[str, int], Awaitable[Sequence[AddrInfoType]]]


class HttpError(Exception):
    """A request that got no usable answer; `code` names the cause for the attempt log."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Stale(HttpError):
    """A connection closed before any byte of its answer: may be retried once if reused."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL points, parsed once: what to connect to and what to send."""

    scheme: str
    host: str  # IDNA-encoded name or IP address, without brackets
    port: int
    host_header: str
    path: str  # percent-encoded path and query
    is_ip: bool

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@lru_cache(maxsize=4096)
def target_of(url: str) -> Target:
    """Parse `url` as aiohttp would (yarl), or raise HttpError `invalid_url`."""
    try:
        parsed = yarl.URL(url)
        host, port = parsed.raw_host, parsed.port
        host_header = parsed.host_port_subcomponent
    except (ValueError, UnicodeError) as exc:
        raise HttpError("invalid_url", f"invalid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise HttpError("invalid_url", f"invalid URL: {url!r} is not http or https")
    if not host or port is None or host_header is None:
        raise HttpError("invalid_url", f"invalid URL: {url!r} has no host")
    try:
        ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    return Target(parsed.scheme, host, port, host_header, parsed.raw_path_qs or "/", is_ip)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    retry_after: str | None


class HttpClient:
    """Pooled HTTP/1.1 connections behind a guard; create one per process and reuse."""

    def __init__(
        self,
        guard: TargetGuard,
        *,
        max_header_bytes: int = 8190,
        max_headers: int = 128,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._guard = guard
        self._max_header = max_header_bytes
        self._max_headers = max_headers
        self._resolver = resolver or _getaddrinfo
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._dns: dict[tuple[str, int], tuple[float, Sequence[AddrInfoType]]] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        max_body: int,
    ) -> Response:
        """Send one request and read its answer; raises HttpError when there is none."""
        target = target_of(url)
        head = _head(method, target, headers, body)
        key = (target.scheme, target.host, target.port)
        while True:
            conn = self._take(key)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(target, url)
            self._busy.add(conn)
            try:
                response, reusable = await conn.exchange(head, body, max_body)
            except _Stale:
                conn.close()
                if reused:
                    # The server had closed the idle connection, and likely its
                    # other idle ones too (a restart): once more, on a new one.
                    self._drop(key)
                    continue
                raise
            except BaseException:
                conn.close()  # an unfinished exchange leaves the connection unusable
                raise
            finally:
                self._busy.discard(conn)
            if reusable:
                self._put(key, conn)
            else:
                conn.close()
            return response

    async def close(self) -> None:
        """Close every connection, idle or busy."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        for conn in list(self._busy):
            conn.close()
        self._busy.clear()
        await asyncio.sleep(0)  # let transports run their close callbacks

    # -- the pool

    def _take(self, key: tuple[str, str, int]) -> _Connection | None:
        conns = self._idle.get(key)
        if not conns:
            return None
        since = asyncio.get_running_loop().time() - KEEPALIVE_SECONDS
        while conns:
            conn = conns.pop()
            if conn.idle_after(since):
                return conn
            conn.close()
        return None

    def _drop(self, key: tuple[str, str, int]) -> None:
        for conn in self._idle.pop(key, ()):
            conn.close()

    def _put(self, key: tuple[str, str, int], conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        conn.idle_since = loop.time()
        self._idle.setdefault(key, []).append(conn)
        if self._sweeper is None:
            self._sweeper = loop.call_later(KEEPALIVE_SECONDS, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle for longer than the keep-alive time."""
        loop = asyncio.get_running_loop()
        since = loop.time() - KEEPALIVE_SECONDS
        for key, conns in list(self._idle.items()):
            kept = [c for c in conns if c.idle_after(since)]
            for conn in conns:
                if conn not in kept:
                    conn.close()
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        self._sweeper = loop.call_later(KEEPALIVE_SECONDS, self._sweep) if self._idle else None

    # -- connecting

    async def _connect(self, target: Target, url: str) -> _Connection:
        # Named for the guard only when connecting: a reused connection was checked
        # when it was made, and naming it per request cost ~3 µs (a urlsplit).
        with self._guard.target(url):
            return await self._open(target)

    async def _open(self, target: Target) -> _Connection:
        infos = await self._addresses(target)
        loop = asyncio.get_running_loop()
        try:
            sock = await aiohappyeyeballs.start_connection(
                infos,
                happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
                interleave=1,
                socket_factory=self._guard.socket_factory,
            )
        except BlockedTarget as exc:
            raise HttpError("blocked_target", f"blocked: {exc}") from exc
        except OSError as exc:  # ConnectionRefusedError included
            if exc.errno == errno.ECONNREFUSED:
                raise HttpError("connection_refused", "connection refused") from exc
            raise HttpError("connection_error", f"could not connect: {exc}") from exc
        # Without it a request written as head and body waits for the ACK of the head.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(self._max_header, self._max_headers)
        try:
            if target.tls:
                await loop.create_connection(
                    lambda: conn, sock=sock, ssl=self._tls(), server_hostname=target.host
                )
            else:
                await loop.create_connection(lambda: conn, sock=sock)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise HttpError("tls", f"TLS certificate rejected: {exc}") from exc
        except ssl.SSLError as exc:
            sock.close()
            raise HttpError("tls", f"TLS error: {exc}") from exc
        except OSError as exc:
            sock.close()
            raise HttpError("connection_error", f"could not connect: {exc}") from exc
        except BaseException:
            sock.close()
            raise
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def _addresses(self, target: Target) -> Sequence[AddrInfoType]:
        """Return the addresses to try: the allowed ones, else one refused (to raise on)."""
        if target.is_ip:  # never resolved: the guard sees the literal itself
            if ":" in target.host:
                v6 = (target.host, target.port, 0, 0)
                return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", v6)]
            v4 = (target.host, target.port)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", v4)]
        key = (target.host, target.port)
        now = asyncio.get_running_loop().time()
        cached = self._dns.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            found = await self._resolver(target.host, target.port)
        except OSError as exc:
            raise HttpError("dns", f"could not resolve host: {exc}") from exc
        if not found:
            raise HttpError("dns", f"could not resolve host: {target.host} has no address")
        allowed = [info for info in found if self._guard.allows(str(info[4][0]), int(info[4][1]))]
        # Several refusals would be merged by aiohappyeyeballs into one plain
        # OSError; a single refused address makes the guard's own error surface.
        addresses = allowed or list(found[:1])
        if len(self._dns) > 1024:
            self._dns.clear()
        self._dns[key] = (now + DNS_CACHE_SECONDS, addresses)
        return addresses


async def _getaddrinfo(host: str, port: int) -> Sequence[AddrInfoType]:
    loop = asyncio.get_running_loop()
    return await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG)


def _head(method: str, target: Target, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\nAccept: */*\r\n"]
    for name, value in headers.items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise HttpError("invalid_request", f"header {name!r} contains CR or LF")
        lines.append(f"{name}: {value}\r\n")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection, one exchange at a time."""

    def __init__(self, max_header_bytes: int, max_headers: int) -> None:
        self._max_line = max_header_bytes
        self._max_headers = max_headers
        self._max_head = max_header_bytes * (max_headers + 1)
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[Response, bool]] | None = None
        self.closed = False
        self.idle_since = 0.0
        self._start(0)

    def _start(self, max_body: int) -> None:
        self._max_body = max_body
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._kept = 0
        self._head_bytes = 0
        self._got_bytes = False
        self._headers_done = False
        self._informational = False
        self._framed = False
        self._full = False
        self._complete = False
        self._retry_after: str | None = None
        self._decoder: zlib._Decompress | None = None
        self._error: HttpError | None = None

    async def exchange(self, head: bytes, body: bytes, max_body: int) -> tuple[Response, bool]:
        """Send a request; return the answer and whether the connection may be reused."""
        if self.closed or self._transport is None:
            raise _Stale("connection_closed", "server closed the connection")
        self._start(max_body)
        waiter: asyncio.Future[tuple[Response, bool]] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        if len(body) > SMALL_BODY:
            self._transport.writelines((head, body))  # no copy of a big body
        else:
            self._transport.write(head + body)  # one segment
        try:
            return await waiter
        finally:
            self._waiter = None

    def idle_after(self, since: float) -> bool:
        """Return True when the connection is open and has been idle only since `since`."""
        return not self.closed and self.idle_since > since

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.close()  # bytes nobody asked for: the stream is out of step
            return
        self._got_bytes = True
        in_head = not self._headers_done
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            self._fail(self._error or HttpError("bad_response", "invalid response"))
            return
        except httptools.HttpParserError as exc:
            self._fail(HttpError("bad_response", f"invalid response: {exc}"))
            return
        if in_head and not self._headers_done:
            # A head that never ends (one endless line, say) is cut off here.
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head:
                self._fail(_too_long(self._max_line))
                return
        if self._full and not self._complete:
            self._finish(reusable=False)  # the rest is never read

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._headers_done and not self._framed:
            self._finish(reusable=False)  # a body that ends where the connection does
        elif self._headers_done:
            self._fail(
                HttpError(
                    "connection_reset",
                    "connection lost while reading the response body (the response is incomplete)",
                )
            )
        elif self._got_bytes:
            self._fail(HttpError("connection_closed", "server closed the connection"))
        elif isinstance(exc, ConnectionResetError):
            self._fail(_Stale("connection_reset", "connection reset"))
        else:
            self._fail(_Stale("connection_closed", "server closed the connection"))

    # -- httptools callbacks

    def on_status(self, status: bytes) -> None:
        if len(status) + 13 > self._max_line:
            self._error = _too_long(self._max_line)
            raise self._error

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) + 2 > self._max_line:
            self._error = _too_long(self._max_line)
            raise self._error
        if len(self._headers) >= self._max_headers:
            self._error = HttpError(
                "response_too_large", f"response has more than {self._max_headers} headers"
            )
            raise self._error
        self._headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or lowered == b"transfer-encoding":
            self._framed = True
        elif lowered == b"retry-after":
            self._retry_after = value.decode("latin-1")
        elif lowered == b"content-encoding":
            encoding = value.strip().lower()
            if encoding in (b"gzip", b"x-gzip"):
                self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            elif encoding == b"deflate":
                self._decoder = zlib.decompressobj(zlib.MAX_WBITS)

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._informational = True  # 100 Continue and the like: the answer follows
            self._headers.clear()
            self._framed = False
            self._decoder = None
            return
        self._status = status
        self._headers_done = True
        if status in BODYLESS_STATUSES:
            self._framed = True

    def on_body(self, chunk: bytes) -> None:
        if self._full:
            return
        room = self._max_body - self._kept
        if self._decoder is not None:
            try:
                chunk = self._decoder.decompress(chunk, room)
            except zlib.error as exc:
                self._error = HttpError("bad_response", f"invalid response body: {exc}")
                raise self._error from None
            if self._decoder.unconsumed_tail:
                self._full = True
        elif len(chunk) > room:
            chunk = chunk[:room]
            self._full = True
        if chunk:
            self._body.append(chunk)
            self._kept += len(chunk)
        if self._kept >= self._max_body:
            self._full = True

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._complete = True
        self._finish(reusable=self._parser.should_keep_alive())

    # --

    def _finish(self, *, reusable: bool) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        response = Response(self._status, self._headers, b"".join(self._body), self._retry_after)
        waiter.set_result((response, reusable and not self.closed))

    def _fail(self, error: HttpError) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close()


def _too_long(limit: int) -> HttpError:
    return HttpError(
        "response_too_large",
        f"response status or header line longer than {limit:,} bytes"
        " (HOOKD_MAX_RESPONSE_HEADER_BYTES)",
    )
