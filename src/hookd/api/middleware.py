"""ASGI middleware: request bodies are JSON and bounded."""

from __future__ import annotations

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
    """Refuse request bodies over `limit` bytes with 413, before reading them whole."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "payload_too_large", f"request body is larger than {self.limit} bytes"
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
