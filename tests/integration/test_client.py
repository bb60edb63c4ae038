"""hookd's HTTP/1.1 client against real loopback servers that answer byte for byte.

Each server here is a plain asyncio server whose answers are written out by
hand, so framing (chunked, until close, 100 Continue), keep-alive, limits and
broken connections are exactly what the test says they are. Every test runs on
asyncio's loop and on uvloop's (tests/conftest.py), as hookd runs on uvloop.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hookd.delivery import client as client_module
from hookd.delivery.client import HttpClient, HttpError, Response
from hookd.delivery.guard import TargetGuard
from tests.support.outcomes import self_signed

Handler = Callable[["Conn"], Awaitable[None]]


@dataclass
class Conn:
    """One accepted connection, as the handler sees it."""

    number: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def request(self) -> tuple[bytes, bytes]:
        """Read one request: its head and body (by Content-Length)."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await self.reader.readexactly(length) if length else b""
        return head, body

    async def answer(self, raw: bytes) -> None:
        self.writer.write(raw)
        await self.writer.drain()


@dataclass
class Server:
    handler: Handler
    port: int = 0
    connections: int = 0
    requests: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = Conn(self.connections, reader, writer)
        try:
            await self.handler(conn)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed.set()


def keep_answering(raw: bytes) -> Handler:
    """A handler that answers every request on its connection with `raw`."""

    async def handler(conn: Conn) -> None:
        while True:
            await conn.request()
            await conn.answer(raw)

    return handler


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> Server:
        server = Server(handler)

        async def recording(conn: Conn) -> None:
            original = conn.request

            async def request() -> tuple[bytes, bytes]:
                head, body = await original()
                server.requests.append((conn.number, head, body))
                return head, body

            conn.request = request  # type: ignore[method-assign]
            await handler(conn)

        server.handler = recording
        listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        servers.append(listening)
        server.port = listening.sockets[0].getsockname()[1]
        return server

    yield start
    for listening in servers:
        listening.close()
        await listening.wait_closed()


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    session = HttpClient(TargetGuard(allow_private=True), max_header_bytes=1024, max_headers=8)
    yield session
    await session.close()


async def get(http: HttpClient, url: str, *, max_body: int = 1024) -> Response:
    async with asyncio.timeout(5):
        return await http.request("GET", url, {}, b"", max_body=max_body)


async def post(http: HttpClient, url: str, body: bytes, headers: dict[str, str]) -> Response:
    async with asyncio.timeout(5):
        return await http.request("POST", url, headers, body, max_body=1024)


async def failure(call: Awaitable[Response]) -> tuple[str, str]:
    with pytest.raises(HttpError) as info:
        async with asyncio.timeout(5):
            await call
    return info.value.code, info.value.message


class TestTheRequest:
    async def test_what_goes_on_the_wire(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        server = await serve(keep_answering(OK))
        body = b'{"type":"x"}'
        await post(http, server.url + "/in box?a=ü&b=1", body, {"webhook-id": "msg_1"})
        await get(http, server.url + "/ping")
        [(_, head, received), (_, get_head, _)] = server.requests
        lines = head.decode().split("\r\n")
        assert lines[0] == "POST /in%20box?a=%C3%BC&b=1 HTTP/1.1"
        assert f"Host: 127.0.0.1:{server.port}" in lines
        assert "webhook-id: msg_1" in lines and f"Content-Length: {len(body)}" in lines
        assert received == body
        assert get_head.startswith(b"GET /ping HTTP/1.1\r\n")
        assert b"content-length" not in get_head.lower()  # a GET without a body says nothing

    async def test_an_empty_post_says_its_length_is_zero(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        server = await serve(keep_answering(OK))
        await post(http, server.url, b"", {})
        assert b"\r\nContent-Length: 0\r\n" in server.requests[0][1]

    async def test_a_header_with_a_newline_is_refused_before_sending(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        server = await serve(keep_answering(OK))
        code, message = await failure(post(http, server.url, b"x", {"x-a": "1\r\nx-b: 2"}))
        assert (code, message) == ("invalid_request", "header 'x-a' contains CR or LF")
        assert server.connections == 0

    @pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http:///nohost", "http://[::1/"])
    async def test_invalid_urls_name_the_problem(self, http: HttpClient, url: str) -> None:
        code, message = await failure(get(http, url))
        assert code == "invalid_url" and message.startswith("invalid URL")


class TestKeepAlive:
    async def test_answers_read_whole_reuse_one_connection(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        server = await serve(keep_answering(OK))
        for _ in range(3):
            assert (await get(http, server.url)).body == b"ok"
        assert server.connections == 1 and len(server.requests) == 3

    async def test_connection_close_is_honoured(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        server = await serve(
            keep_answering(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        )
        await get(http, server.url)
        await get(http, server.url)
        assert server.connections == 2

    async def test_a_reused_connection_closed_before_answering_is_retried_once_anew(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        async def handler(conn: Conn) -> None:
            await conn.request()
            if conn.number == 1:
                await conn.answer(OK)
                await conn.request()
                return  # closes without answering the second request
            await conn.answer(OK)

        server = await serve(handler)
        await get(http, server.url)
        assert (await get(http, server.url)).status == 200
        assert [number for number, _, _ in server.requests] == [1, 1, 2]

    async def test_after_one_stale_connection_the_other_idle_ones_are_dropped(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        async def handler(conn: Conn) -> None:
            await conn.request()
            if conn.number <= 2:
                await conn.answer(OK)
                await conn.request()
                return  # a restart: neither answers again
            await conn.answer(OK)

        server = await serve(handler)
        # Both start with an empty pool, so each opens a connection of its own.
        await asyncio.gather(get(http, server.url), get(http, server.url))
        assert server.connections == 2
        assert (await get(http, server.url)).status == 200
        # One stale connection was tried, the other dropped unused, then a new one.
        assert len(server.requests) == 4 and server.connections == 3
        assert server.requests[-1][0] == 3

    async def test_a_new_connection_closed_before_answering_fails(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        async def handler(conn: Conn) -> None:
            await conn.request()

        server = await serve(handler)
        assert await failure(get(http, server.url)) == (
            "connection_closed",
            "server closed the connection",
        )
        assert server.connections == 1  # not retried: the connection was not a reused one

    async def test_idle_connections_expire(
        self,
        serve: Callable[..., Awaitable[Server]],
        http: HttpClient,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        server = await serve(keep_answering(OK))
        await get(http, server.url)
        monkeypatch.setattr(client_module, "KEEPALIVE_SECONDS", 0.0)
        await get(http, server.url)
        assert server.connections == 2

    async def test_an_unfinished_request_closes_its_connection(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        async def handler(conn: Conn) -> None:
            await conn.request()
            await conn.reader.read()  # never answers; returns when the client hangs up

        server = await serve(handler)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await http.request("GET", server.url, {}, b"", max_body=10)
        async with asyncio.timeout(5):
            await server.closed.wait()


class TestTheAnswer:
    async def test_chunked_bodies_are_joined(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        raw = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nRetry-After: 7\r\n\r\n"
        raw += b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        server = await serve(keep_answering(raw))
        response = await get(http, server.url)
        assert (response.status, response.body, response.retry_after) == (201, b"abcde", "7")
        await get(http, server.url)
        assert server.connections == 1

    async def test_a_body_that_ends_with_the_connection(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        async def handler(conn: Conn) -> None:
            await conn.request()
            await conn.answer(b"HTTP/1.0 200 OK\r\n\r\nall of it")

        server = await serve(handler)
        assert (await get(http, server.url)).body == b"all of it"

    async def test_100_continue_comes_before_the_answer(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        server = await serve(keep_answering(b"HTTP/1.1 100 Continue\r\n\r\n" + OK))
        response = await get(http, server.url)
        assert (response.status, response.body) == (200, b"ok")

    async def test_gzip_bodies_are_decoded_within_the_limit(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        packed = gzip.compress(b"z" * 5000)
        raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
        raw += f"Content-Length: {len(packed)}\r\n\r\n".encode() + packed
        server = await serve(keep_answering(raw))
        assert (await get(http, server.url, max_body=100)).body == b"z" * 100
        assert (await get(http, server.url, max_body=10_000)).body == b"z" * 5000

    async def test_a_body_over_the_limit_is_cut_and_its_connection_dropped(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        # 4 MB cannot arrive in one read, so the rest is still on its way when the client stops.
        big = b"HTTP/1.1 200 OK\r\nContent-Length: 4000000\r\n\r\n" + b"b" * 4_000_000
        server = await serve(keep_answering(big))
        assert (await get(http, server.url, max_body=10)).body == b"b" * 10
        await get(http, server.url, max_body=10)
        assert server.connections == 2

    async def test_a_body_of_exactly_the_limit_keeps_its_connection(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        server = await serve(keep_answering(OK))
        assert (await get(http, server.url, max_body=2)).body == b"ok"
        await get(http, server.url, max_body=2)
        assert server.connections == 1

    async def test_headers_come_back_in_order_with_their_case(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        raw = b"HTTP/1.1 200 OK\r\nX-One: 1\r\nx-two: 2\r\nContent-Length: 0\r\n\r\n"
        server = await serve(keep_answering(raw))
        response = await get(http, server.url)
        assert response.headers == [(b"X-One", b"1"), (b"x-two", b"2"), (b"Content-Length", b"0")]


class TestBadAnswers:
    async def test_too_many_headers(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        headers = b"".join(b"X-%d: v\r\n" % i for i in range(9))
        server = await serve(keep_answering(b"HTTP/1.1 200 OK\r\n" + headers + b"\r\n"))
        assert await failure(get(http, server.url)) == (
            "response_too_large",
            "response has more than 8 headers",
        )

    @pytest.mark.parametrize(
        "raw",
        [
            b"HTTP/1.1 200 " + b"K" * 2000 + b"\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"v" * 2000 + b"\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX-Endless: " + b"v" * 20_000,
        ],
        ids=["status-line", "header-line", "unterminated-header"],
    )
    async def test_lines_over_the_limit(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient, raw: bytes
    ) -> None:
        server = await serve(keep_answering(raw))
        assert await failure(get(http, server.url)) == (
            "response_too_large",
            "response status or header line longer than 1,024 bytes"
            " (HOOKD_MAX_RESPONSE_HEADER_BYTES)",
        )

    async def test_not_http_at_all(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        server = await serve(keep_answering(b"SSH-2.0-OpenSSH_9.2\r\n"))
        code, message = await failure(get(http, server.url))
        assert code == "bad_response" and message.startswith("invalid response")

    async def test_a_corrupt_gzip_body(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope"
        server = await serve(keep_answering(raw))
        code, message = await failure(get(http, server.url))
        assert code == "bad_response" and message.startswith("invalid response body")

    async def test_cut_off_mid_body(
        self, serve: Callable[..., Awaitable[Server]], http: HttpClient
    ) -> None:
        async def handler(conn: Conn) -> None:
            await conn.request()
            await conn.answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")

        server = await serve(handler)
        assert await failure(get(http, server.url)) == (
            "connection_reset",
            "connection lost while reading the response body (the response is incomplete)",
        )


class TestNames:
    async def test_a_name_that_does_not_resolve(self) -> None:
        async def resolve(host: str, port: int) -> list[object]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        session = HttpClient(TargetGuard(allow_private=True), resolver=resolve)  # type: ignore[arg-type]
        try:
            assert await failure(get(session, "http://nowhere.invalid/")) == (
                "dns",
                "could not resolve host: [Errno -2] Name or service not known",
            )
        finally:
            await session.close()

    async def test_answers_are_cached(self, serve: Callable[..., Awaitable[Server]]) -> None:
        raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        server = await serve(keep_answering(raw))
        asked: list[str] = []

        async def resolve(host: str, port: int) -> list[tuple[int, int, int, str, tuple[str, int]]]:
            asked.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

        session = HttpClient(TargetGuard(allow_private=True), resolver=resolve)
        try:
            for _ in range(2):
                await get(session, f"http://receiver.test:{server.port}/")
        finally:
            await session.close()
        assert asked == ["receiver.test"] and server.connections == 2
        assert b"\r\nHost: receiver.test:%d\r\n" % server.port in server.requests[0][1]


class TestTls:
    @pytest.fixture
    async def https(self, tmp_path: Path) -> AsyncIterator[tuple[int, ssl.SSLContext, list[int]]]:
        """A TLS server for 127.0.0.1 and localhost; yields its port, a trusting context, hits."""
        hits: list[int] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            hits.append(1)
            try:
                while True:
                    await reader.readuntil(b"\r\n\r\n")
                    writer.write(OK)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=self_signed(tmp_path))
        trusting = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        yield server.sockets[0].getsockname()[1], trusting, hits
        server.close()
        await server.wait_closed()

    async def test_a_trusted_certificate_keeps_its_connection(
        self, https: tuple[int, ssl.SSLContext, list[int]]
    ) -> None:
        port, trusting, hits = https
        session = HttpClient(TargetGuard(allow_private=True), ssl_context=trusting)
        try:
            for _ in range(2):
                response = await get(session, f"https://127.0.0.1:{port}/")
                assert (response.status, response.body) == (200, b"ok")
        finally:
            await session.close()
        assert len(hits) == 1

    async def test_a_certificate_for_another_name_is_rejected(
        self, https: tuple[int, ssl.SSLContext, list[int]]
    ) -> None:
        port, trusting, _ = https

        async def resolve(host: str, port: int) -> list[tuple[int, int, int, str, tuple[str, int]]]:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

        session = HttpClient(
            TargetGuard(allow_private=True),
            ssl_context=trusting,
            resolver=resolve,
        )
        try:
            code, message = await failure(get(session, f"https://elsewhere.test:{port}/"))
        finally:
            await session.close()
        assert code == "tls" and "certificate verify failed: Hostname mismatch" in message
