"""uvicorn's HTTP protocol (httptools), answering malformed and oversized requests in JSON.

uvicorn parses each request before the app sees it and answers a request it
cannot parse itself, in plain text. This subclass answers those with hookd's
JSON error instead, and bounds what httptools alone leaves unbounded:

    request target over MAX_TARGET_BYTES   -> 414 uri_too_long
    headers over MAX_HEADER_BYTES in all    -> 431 headers_too_large
    anything httptools refuses              -> 400 bad_request

Each answer says `Connection: close`, and the connection is closed after it.
"""

from __future__ import annotations

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEADER_BYTES", "MAX_TARGET_BYTES", "HookdHttp"]

MAX_TARGET_BYTES = 8 * 1024
"""Longest request target (path and query) hookd reads."""

MAX_HEADER_BYTES = 64 * 1024
"""Most bytes of header names and values hookd reads in one request."""

_REASONS = {400: b"Bad Request", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


class _Refused(Exception):
    pass


class HookdHttp(HttpToolsProtocol):
    """httptools' protocol with bounded request heads and JSON errors."""

    _refusal: tuple[int, str, str] | None = None
    _header_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_TARGET_BYTES:
            self._refusal = (
                414,
                "uri_too_long",
                f"the request target is longer than {MAX_TARGET_BYTES} bytes",
            )
            raise _Refused  # httptools turns it into HttpParserError: send_400_response

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            self._refusal = (
                431,
                "headers_too_large",
                f"the request headers are larger than {MAX_HEADER_BYTES} bytes",
            )
            raise _Refused
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        status, code, message = self._refusal or (
            400,
            "bad_request",
            "the request is not valid HTTP/1.1",
        )
        body = orjson.dumps({"error": {"code": code, "message": message, "details": None}})
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\n")
        head.append(b"content-length: %d\r\n" % len(body))
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()
