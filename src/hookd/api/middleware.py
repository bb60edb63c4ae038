"""ASGI middleware: request bodies are JSON and bounded."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookd.api.errors import error_response

_FORM = b"application/x-www-form-urlencoded"


def read_as_json(content_type: bytes) -> bool:
    """Tell whether a body with this Content-Type is read as JSON: JSON, a form, or none."""
    kind = content_type.split(b";")[0].strip().lower()
    return kind in (b"", b"application/json", _FORM)


class JsonBodies:
    """Read bodies sent without a JSON content type as JSON.

    The API takes JSON only; `curl -d` labels its body as a form, and a
    missing Content-Type is common in scripts. Both are read as JSON rather
    than refused.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            kind = dict(scope["headers"]).get(b"content-type", b"")
            if read_as_json(kind):
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, before reading them whole.

    The refusal reaches every client: a server that answers and closes while
    the client is still sending makes the kernel reset the connection, and
    clients that write the whole body before reading (Python's urllib) see
    `ConnectionResetError` instead of the 413. So the rest of the body is read
    and dropped first (up to `DRAIN_BYTES` or `DRAIN_SECONDS`), and the answer
    says `Connection: close`. A body sent in chunks (no Content-Length) is
    counted here as it arrives, since the app's body parser would turn any
    error raised while reading into a 400.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit():
            if int(length) > self.limit:
                # A client that waits for "100 Continue" has sent nothing yet.
                if int(length) <= DRAIN_BYTES and headers.get(b"expect") != b"100-continue":
                    await _drain(receive, 0)
                await self._refuse(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.limit:
                if message.get("more_body", False):
                    await _drain(receive, seen)
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(messages, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "payload_too_large", f"request body is larger than {self.limit} bytes"
        )
        response.headers["connection"] = "close"
        await response(scope, receive, send)


DRAIN_BYTES = 64 * 1024 * 1024
"""Most bytes of a refused body read and dropped so that the client sees the 413."""

DRAIN_SECONDS = 10.0
"""Longest a refused body is read for; a slower client may see the connection reset."""


async def _drain(receive: Receive, seen: int) -> None:
    """Read and drop the rest of a request body, within the drain bounds."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while seen <= DRAIN_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                seen += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """Return a `receive` that gives `messages` first, then the client's."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
