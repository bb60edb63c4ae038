"""One HTTP attempt, through one pooled client per worker (client.py).

Redirects are never followed (a 3xx is a failed attempt), proxies are never
used, and every connection goes through the target guard, so a webhook cannot
reach an address the URL policy forbids.

Limits, each with a setting and its own error code:
    request body        over `max_request_bytes` it is not sent (`body_too_large`)
    response headers    a status or header line over `max_response_header_bytes`,
                        or more than 128 headers (`response_too_large`)
    response body       only `max_response_bytes` are read and kept; the rest is
                        never read and its connection is closed, not reused
    time                the whole attempt, connecting included (`timeout`); a
                        response that had arrived when the timer fired late (the
                        process was paused) is taken, not called a timeout
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hookd.config import Settings
from hookd.delivery.client import HttpClient, HttpError
from hookd.delivery.guard import TargetGuard
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
    """Send requests with one HTTP client; create once per worker and reuse."""

    def __init__(
        self,
        guard: TargetGuard,
        *,
        timeout: float,
        max_response_bytes: int,
        max_request_bytes: int | None = None,
        max_header_bytes: int = 8190,
    ) -> None:
        self._guard = guard
        self._timeout = timeout
        self._max_response = max_response_bytes
        self._max_request = max_request_bytes
        self._max_header = max_header_bytes
        self._client: HttpClient | None = None

    @classmethod
    def for_settings(cls, settings: Settings, **overrides: float) -> Sender:
        """Return a sender obeying this process's URL policy, timeout and limits."""
        guard = TargetGuard(
            allow_private=settings.dev,
            allowed_networks=settings.allowed_targets,
            allowed_hosts=settings.self_addresses(),
            self_origins=[_origin(settings.base_url)],
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
        if self._client is None:
            self._client = HttpClient(
                self._guard,
                max_header_bytes=self._max_header,
                max_headers=MAX_RESPONSE_HEADERS,
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def send(self, request: OutgoingRequest) -> Sent:
        """Make the attempt; never raises for network or HTTP failures."""
        if self._client is None:
            self.open()
        assert self._client is not None
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
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(None) as scope:
                deadline = loop.time() + self._timeout
                expiry = loop.call_at(deadline, _expire, scope, deadline, loop)
                try:
                    with self._guard.target(request.url):
                        response = await self._client.request(
                            request.method,
                            request.url,
                            request.headers,
                            request.body,
                            max_body=self._max_response,
                        )
                finally:
                    expiry.cancel()
        except TimeoutError:
            result = AttemptResult(
                None, "timeout", f"timed out after {self._timeout:g} s", timed_out=True
            )
        except Exception as exc:
            result = classify(exc)
        else:
            headers = {
                name.decode("latin-1"): value.decode("utf-8", errors="replace")
                for name, value in response.headers[:_KEPT_RESPONSE_HEADERS]
            }
            result = AttemptResult(status=response.status, retry_after=response.retry_after)
            text = response.body.decode("utf-8", errors="replace")
            return Sent(result, started, _ms(clock), headers, text)
        return Sent(result, started, _ms(clock))


# A timer that fires this late (the process was paused, or its loop starved) may
# find the response already arrived and unread; it is read, not called a timeout.
LATE = 0.5
LATE_GRACE = 0.25


def _expire(scope: asyncio.Timeout, deadline: float, loop: asyncio.AbstractEventLoop) -> None:
    """End the attempt now, unless the timer fired late: then read what arrived first.

    After a pause (SIGSTOP, a stalled VM) the loop runs the bytes that arrived
    meanwhile and the expired timer in the same turn; the request's coroutine
    would be woken only after the timer cancelled it. A late timer gives it
    LATE_GRACE to take a response that is already there.
    """
    now = loop.time()
    scope.reschedule(now + LATE_GRACE if now - deadline > LATE else now)


def _ms(clock: float) -> float:
    return round((time.perf_counter() - clock) * 1000, 3)


def classify(exc: BaseException) -> AttemptResult:
    """Name a failed attempt's cause: an error code and words for a person."""
    if isinstance(exc, HttpError):  # the client names every failure it knows
        return AttemptResult(None, exc.code, exc.message)
    return AttemptResult(None, "error", f"{type(exc).__name__}: {exc}")


def _origin(url: str) -> tuple[str, int]:
    """Return the (host, port) a URL names, with the scheme's default port."""
    parts = urlsplit(url)
    return ((parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80))
