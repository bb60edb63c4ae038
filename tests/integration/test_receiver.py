"""The scriptable test receiver answers as scripted and fails as asked."""

from __future__ import annotations

import asyncio
import http.client
import socket
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.support.receiver import Receiver, Reply

SHORT = aiohttp.ClientTimeout(total=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        yield s


class TestScripting:
    async def test_answers_scripted_replies_in_order_then_default(
        self, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        receiver.script(Reply(500, body=b"boom"), Reply(201, headers={"X-A": "1"}))
        receiver.default = Reply(202)
        seen = []
        for i in range(4):
            async with session.post(receiver.url + "/hook", json={"n": i}) as resp:
                seen.append((resp.status, await resp.read(), resp.headers.get("X-A")))
        assert seen == [(500, b"boom", None), (201, b"", "1"), (202, b"", None), (202, b"", None)]
        requests = receiver.wait_for(4)
        assert [r.json() for r in requests] == [{"n": i} for i in range(4)]
        assert requests[0].method == "POST"
        assert requests[0].headers["content-type"] == "application/json"
        # aiohttp keeps the connection alive: all four came over one socket.
        assert len({r.peer for r in requests}) == 1

    async def test_per_path_queue_and_handler(
        self, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        receiver.script(Reply(410), path="/gone")
        receiver.set_handler(lambda req: Reply(200, body=req.path.encode()))
        async with session.get(receiver.url + "/gone?x=1") as resp:
            assert resp.status == 410
        async with session.get(receiver.url + "/gone") as resp:
            assert (resp.status, await resp.read()) == (200, b"/gone")
        assert len(receiver.received("/gone")) == 2
        assert len(receiver.received("/gone?x=1")) == 1

    async def test_redirect_via_headers(
        self, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        receiver.script(Reply(307, headers={"Location": "http://127.0.0.1:1/elsewhere"}))
        async with session.post(receiver.url, data=b"x", allow_redirects=False) as resp:
            assert resp.status == 307
            assert resp.headers["Location"] == "http://127.0.0.1:1/elsewhere"

    def test_sync_client_and_connection_close(self, receiver: Receiver) -> None:
        receiver.script(Reply(200, body=b"hi"))
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
        try:
            conn.request("PUT", "/a", body=b"abc", headers={"Connection": "close"})
            resp = conn.getresponse()
            assert (resp.status, resp.read(), resp.getheader("Connection")) == (200, b"hi", "close")
        finally:
            conn.close()
        [request] = receiver.wait_for(1)
        assert (request.method, request.path, request.body) == ("PUT", "/a", b"abc")

    async def test_count_by_header(
        self, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        for msg_id in ("a", "b", "a"):
            async with session.post(receiver.url, headers={"Webhook-Id": msg_id}) as resp:
                assert resp.status == 200
        assert receiver.count_by("webhook-id") == {"a": 2, "b": 1}


class TestFaults:
    async def test_hang_is_recorded_and_never_answered(
        self, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        receiver.default = Reply(action="hang")
        with pytest.raises(TimeoutError):
            await session.post(receiver.url, data=b"x", timeout=aiohttp.ClientTimeout(total=0.3))
        [request] = await receiver.wait_for_async(1)
        assert request.body == b"x"

    def test_stop_closes_hanging_connections_promptly(self) -> None:
        with Receiver() as rx:
            rx.default = Reply(action="hang")
            with socket.create_connection(("127.0.0.1", rx.port), timeout=5) as sock:
                sock.sendall(b"POST /h HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
                rx.wait_for(1)
                started = time.monotonic()
                rx.stop()
                assert time.monotonic() - started < 2
                assert sock.recv(100) == b""  # closed without an answer

    async def test_reset_breaks_the_response(
        self, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        receiver.script(Reply(200, body=b"x" * 1000, action="reset"))
        with pytest.raises(aiohttp.ClientError):
            async with session.post(receiver.url, data=b"x") as resp:
                await resp.read()
        assert len(receiver.wait_for(1)) == 1

    async def test_close_without_answer(
        self, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        receiver.script(Reply(action="close"))
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await session.post(receiver.url, data=b"x")

    async def test_drip_is_slow_but_complete(
        self, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        receiver.script(Reply(200, body=b"ok", action="drip", drip_interval=0.005))
        started = time.monotonic()
        async with session.get(receiver.url) as resp:
            assert await resp.read() == b"ok"
        assert time.monotonic() - started >= 0.005 * 30  # one pause per byte of the response

    async def test_drip_trips_a_read_timeout(
        self, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        receiver.script(Reply(200, action="drip", drip_interval=0.2))
        with pytest.raises(TimeoutError):
            await session.get(receiver.url, timeout=aiohttp.ClientTimeout(total=0.3))

    async def test_streams_a_large_body(
        self, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        receiver.script(Reply(200, body_size=20 * 1024 * 1024))
        async with session.get(receiver.url) as resp:
            assert resp.content_length == 20 * 1024 * 1024
            total = 0
            async for chunk in resp.content.iter_any():
                total += len(chunk)
        assert total == 20 * 1024 * 1024

    async def test_delay_comes_after_recording(
        self, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        receiver.script(Reply(200, delay=0.2))
        async with session.post(receiver.url, data=b"x") as resp:
            answered = time.time()
            assert resp.status == 200
        [request] = receiver.received()
        assert answered - request.received_at >= 0.2


class TestWaiting:
    def test_wait_for_times_out_with_what_it_got(self, receiver: Receiver) -> None:
        with pytest.raises(AssertionError, match=r"expected 1 requests within 0\.05s, got 0"):
            receiver.wait_for(1, timeout=0.05)

    async def test_wait_for_async_does_not_block_the_loop(
        self, receiver: Receiver, session: aiohttp.ClientSession
    ) -> None:
        # The request is sent by this same loop while wait_for_async waits.
        waiting = asyncio.ensure_future(receiver.wait_for_async(1, path="/late"))
        async with session.post(receiver.url + "/late", data=b"x") as resp:
            assert resp.status == 200
        [request] = await waiting
        assert request.body == b"x"
        with pytest.raises(AssertionError, match="on /never"):
            await receiver.wait_for_async(1, timeout=0.05, path="/never")
