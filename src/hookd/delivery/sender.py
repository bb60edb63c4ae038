"""One HTTP attempt, through one pooled client per worker.

Redirects are never followed (a 3xx is a failed attempt), proxies from the
environment are ignored, and every connection goes through the target guard,
so a webhook cannot reach an address the URL policy forbids.

Limits, each with a setting and its own error code:
    request body        over `max_request_bytes` it is not sent (`body_too_large`)
    response headers    a status or header line over `max_response_header_bytes`,
                        or more than 128 headers (`response_too_large`)
    response body       only `max_response_bytes` are read and kept; the rest is
                        never read and its connection is closed, not reused
    time                the whole attempt, connecting included (`timeout`)
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field

import aiohttp

from hookd.config import Settings
from hookd.delivery.guard import TargetGuard, is_blocked, make_connector
from hookd.delivery.request import OutgoingRequest
from hookd.domain.outcome import AttemptResult

_KEPT_RESPONSE_HEADERS = 64
MAX_RESPONSE_HEADERS = 128


@dataclass(frozen=True, slots=True)
class Sent:
    """What an attempt produced, with timing and a bounded response excerpt."""

    result: AttemptResult
    started_at: float
    duration_ms: float
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""


class Sender:
    """Send requests with one aiohttp session; create once per worker and reuse."""

    def __init__(
        self,
        guard: TargetGuard,
        *,
        timeout: float,
        max_response_bytes: int,
        connections: int = 0,
        max_request_bytes: int | None = None,
        max_header_bytes: int = 8190,
    ) -> None:
        self._guard = guard
        self._timeout = timeout
        self._max_response = max_response_bytes
        self._max_request = max_request_bytes
        self._max_header = max_header_bytes
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_settings(cls, settings: Settings, **overrides: float) -> Sender:
        """Return a sender obeying this process's URL policy, timeout and limits."""
        guard = TargetGuard(
            allow_private=settings.dev,
            allowed_networks=settings.allowed_targets,
            allowed_hosts=settings.self_addresses(),
        )
        return cls(
            guard,
            timeout=overrides.get("timeout", settings.request_timeout),
            max_response_bytes=settings.max_response_bytes,
            max_request_bytes=settings.max_request_bytes,
            max_header_bytes=settings.max_response_header_bytes,
        )

    async def __aenter__(self) -> Sender:
        self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=make_connector(self._guard, limit=self._connections),
                trust_env=False,
                auto_decompress=True,
                skip_auto_headers=("User-Agent", "Content-Type"),
                max_line_size=self._max_header,
                max_field_size=self._max_header,
                max_headers=MAX_RESPONSE_HEADERS,
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, request: OutgoingRequest) -> Sent:
        """Make the attempt; never raises for network or HTTP failures."""
        if self._session is None:
            self.open()
        assert self._session is not None
        started = time.time()
        clock = time.perf_counter()
        if self._max_request is not None and len(request.body) > self._max_request:
            result = AttemptResult(
                None,
                "body_too_large",
                f"request body is {len(request.body):,} bytes; the limit is "
                f"{self._max_request:,} (HOOKD_MAX_REQUEST_BYTES)",
            )
            return Sent(result, started, 0.0)
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session.request(
                    request.method,
                    request.url,
                    data=request.body or None,
                    headers=request.headers,
                    allow_redirects=False,
                ) as response:
                    # Read to the limit or the end, whichever comes first: a reset
                    # before either is an error, not a short success. Leaving the
                    # context with bytes unread closes the connection (never reused).
                    body = await _read_at_most(response.content, self._max_response)
                    headers = {
                        str(k): v
                        for k, v in list(response.headers.items())[:_KEPT_RESPONSE_HEADERS]
                    }
                    result = AttemptResult(
                        status=response.status, retry_after=response.headers.get("Retry-After")
                    )
                    text = body.decode("utf-8", errors="replace")
                    return Sent(result, started, _ms(clock), headers, text)
        except TimeoutError:
            result = AttemptResult(
                None, "timeout", f"timed out after {self._timeout:g} s", timed_out=True
            )
        except Exception as exc:
            result = classify(exc, max_header_bytes=self._max_header)
        return Sent(result, started, _ms(clock))


async def _read_at_most(content: aiohttp.StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = await content.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _ms(clock: float) -> float:
    return round((time.perf_counter() - clock) * 1000, 3)


def classify(exc: BaseException, *, max_header_bytes: int = 8190) -> AttemptResult:
    """Name a failed attempt's cause: an error code and words for a person."""
    too_large = _headers_too_large(exc, max_header_bytes)
    if too_large:
        return AttemptResult(None, "response_too_large", too_large)
    if is_blocked(exc):
        return AttemptResult(None, "blocked_target", f"blocked: {_cause(exc)}")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return AttemptResult(None, "tls", f"TLS certificate rejected: {exc.certificate_error}")
    if isinstance(exc, aiohttp.ClientConnectorSSLError | ssl.SSLError):
        return AttemptResult(None, "tls", f"TLS error: {exc}")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return AttemptResult(None, "dns", f"could not resolve host: {_cause(exc)}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return AttemptResult(None, "connection_refused", "connection refused")
        return AttemptResult(None, "connection_error", f"could not connect: {_cause(exc)}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return AttemptResult(None, "connection_closed", "server closed the connection")
    if isinstance(exc, ConnectionResetError | aiohttp.ClientOSError):
        return AttemptResult(None, "connection_reset", "connection reset")
    if isinstance(exc, aiohttp.ClientPayloadError):
        if "not completed" in str(exc) or isinstance(exc.__cause__, ConnectionError):
            return AttemptResult(
                None,
                "connection_reset",
                "connection lost while reading the response body (the response is incomplete)",
            )
        return AttemptResult(None, "bad_response", f"invalid response body: {exc}")
    if isinstance(exc, aiohttp.ClientResponseError):
        return AttemptResult(None, "bad_response", f"invalid response: {exc}")
    if isinstance(exc, aiohttp.InvalidURL | ValueError):
        return AttemptResult(None, "invalid_url", f"invalid URL: {exc}")
    return AttemptResult(None, "error", f"{type(exc).__name__}: {exc}")


def _cause(exc: BaseException) -> str:
    inner = getattr(exc, "os_error", None) or exc.__cause__ or exc
    return str(inner) or type(inner).__name__


def _headers_too_large(exc: BaseException, limit: int) -> str | None:
    """Describe a response refused for the size of its head; None for other errors."""
    if not isinstance(exc, aiohttp.ClientResponseError):
        return None
    text = str(exc.message)
    if "Got more than" in text or "too long" in text.lower():
        return (
            f"response status or header line longer than {limit:,} bytes"
            " (HOOKD_MAX_RESPONSE_HEADER_BYTES)"
        )
    if "Too many headers" in text:
        return f"response has more than {MAX_RESPONSE_HEADERS} headers"
    return None
