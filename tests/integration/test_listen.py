"""`hookd listen` prints what it receives and whether the signature verifies."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from multidict import CIMultiDict
from rich.console import Console

from hookd.domain import signing
from hookd.listen import check_signatures, serve_listener

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = json.dumps({"type": "job.success", "data": {"title": "nightly"}}).encode()


@dataclass
class Listener:
    url: str
    output: io.StringIO
    session: aiohttp.ClientSession

    async def post(self, body: bytes, headers: dict[str, str]) -> int:
        # standard and hmac-sha256-base64 both send a header named Webhook-Signature; aiohttp's
        # session keeps both only when the names are spelled alike (ClientSession._prepare_headers).
        both = CIMultiDict((name.lower(), value) for name, value in headers.items())
        async with self.session.post(self.url + "/hook", data=body, headers=both) as resp:
            await resp.read()
            return resp.status

    @property
    def text(self) -> str:
        return self.output.getvalue()


StartListener = Callable[..., Awaitable[Listener]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def start_listener() -> AsyncIterator[StartListener]:
    tasks: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:

        async def start(*, secret: str | None, status: int = 200) -> Listener:
            output = io.StringIO()
            console = Console(file=output, width=120, force_terminal=False)
            ready = asyncio.Event()
            port = free_port()
            task = asyncio.create_task(
                serve_listener(
                    "127.0.0.1", port, secret=secret, status=status, console=console, ready=ready
                )
            )
            tasks.append(task)
            await asyncio.wait_for(ready.wait(), 5)
            return Listener(f"http://127.0.0.1:{port}", output, session)

        yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def signed(
    body: bytes, schemes: list[str] | None = None, *, at: float | None = None
) -> dict[str, str]:
    stamp = int(time.time() if at is None else at)
    return signing.signature_headers(schemes or ["standard"], [SECRET], "msg_1", stamp, body)


class TestListen:
    async def test_prints_request_and_verified_signature(
        self, start_listener: StartListener
    ) -> None:
        listener = await start_listener(secret=SECRET)
        headers = {**signed(BODY), "Content-Type": "application/json"}
        assert await listener.post(BODY, headers) == 200
        out = listener.text
        assert "POST /hook" in out
        assert "webhook-id: msg_1" in out
        assert "content-type: application/json" in out
        assert '"title": "nightly"' in out  # pretty-printed JSON
        assert "signature: verified (standard)" in out
        assert "INVALID" not in out

    async def test_tampered_body_is_invalid(self, start_listener: StartListener) -> None:
        listener = await start_listener(secret=SECRET)
        tampered = BODY.replace(b"nightly", b"nightlY")
        assert await listener.post(tampered, signed(BODY)) == 200
        assert "signature: INVALID — standard: mismatch" in listener.text
        assert "verified" not in listener.text

    async def test_every_scheme_is_checked(self, start_listener: StartListener) -> None:
        listener = await start_listener(secret=SECRET)
        schemes = [signing.STANDARD, signing.HMAC_BASE64, signing.GITHUB]
        await listener.post(BODY, signed(BODY, schemes))
        assert "signature: verified (standard, hmac-sha256-base64, github)" in listener.text

    async def test_no_secret_no_verdict(self, start_listener: StartListener) -> None:
        listener = await start_listener(secret=None)
        assert await listener.post(BODY, signed(BODY)) == 200
        assert "POST /hook" in listener.text
        assert "webhook-signature: v1," in listener.text
        assert "\nsignature:" not in listener.text

    async def test_never_prints_the_secret(self, start_listener: StartListener) -> None:
        listener = await start_listener(secret=SECRET)
        echo = {**signed(BODY), "X-Echo": SECRET}
        await listener.post(json.dumps({"leak": SECRET}).encode(), echo)
        out = listener.text
        assert "signature: INVALID" in out
        assert SECRET not in out
        assert SECRET.removeprefix("whsec_") not in out

    async def test_answers_the_configured_status(self, start_listener: StartListener) -> None:
        listener = await start_listener(secret=None, status=503)
        async with listener.session.post(listener.url, data=b"x") as resp:
            assert resp.status == 503
            assert await resp.json() == {"ok": False}

    async def test_truncates_long_bodies(self, start_listener: StartListener) -> None:
        listener = await start_listener(secret=None)
        await listener.post(b"a" * 10_000, {"Content-Type": "text/plain"})
        assert "more characters)" in listener.text
        assert "a" * 10_000 not in listener.text


class TestCheckSignatures:
    def test_old_timestamp(self) -> None:
        now = time.time()
        ok, reason = check_signatures(SECRET, signed(BODY, at=now - 3600), BODY, now)
        assert not ok
        assert reason.startswith("standard: timestamp too old")

    def test_missing_headers(self) -> None:
        headers = signed(BODY)
        del headers["webhook-id"]
        assert check_signatures(SECRET, headers, BODY, time.time()) == (
            False,
            "standard: missing webhook-id",
        )

    def test_unsigned(self) -> None:
        assert check_signatures(SECRET, {}, BODY, time.time()) == (False, "no signature headers")

    def test_github_mismatch(self) -> None:
        headers = signing.signature_headers(["github"], ["other"], "m", 0, BODY)
        assert check_signatures(SECRET, headers, BODY, time.time()) == (False, "github: mismatch")
