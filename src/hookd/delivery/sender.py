"""One HTTP attempt, through one pooled client per worker.

Redirects are never followed (a 3xx is a failed attempt), proxies from the
environment are ignored, and every connection goes through the target guard,
so a webhook cannot reach an address the URL policy forbids.
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
    ) -> None:
        self._guard = guard
        self._timeout = timeout
        self._max_response = max_response_bytes
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_settings(cls, settings: Settings, **overrides: float) -> Sender:
        """Return a sender obeying this process's URL policy, timeout and limits."""
        guard = TargetGuard(allow_private=settings.dev, allowed_hosts=settings.self_addresses())
        return cls(
            guard,
            timeout=overrides.get("timeout", settings.request_timeout),
            max_response_bytes=settings.max_response_bytes,
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
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session.request(
                    request.method,
                    request.url,
                    data=request.body or None,
                    headers=request.headers,
                    allow_redirects=False,
                ) as response:
                    body = await response.content.read(self._max_response)
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
            result = classify(exc)
        return Sent(result, started, _ms(clock))


def _ms(clock: float) -> float:
    return round((time.perf_counter() - clock) * 1000, 3)


def classify(exc: BaseException) -> AttemptResult:
    """Name a failed attempt's cause: an error code and words for a person."""
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
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return AttemptResult(None, "bad_response", f"invalid response: {exc}")
    if isinstance(exc, aiohttp.InvalidURL | ValueError):
        return AttemptResult(None, "invalid_url", f"invalid URL: {exc}")
    return AttemptResult(None, "error", f"{type(exc).__name__}: {exc}")


def _cause(exc: BaseException) -> str:
    inner = getattr(exc, "os_error", None) or exc.__cause__ or exc
    return str(inner) or type(inner).__name__
