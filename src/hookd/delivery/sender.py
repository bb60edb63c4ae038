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
        self._deadlines: Deadlines | None = None

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
        if self._deadlines is not None:
            self._deadlines.close()
            self._deadlines = None
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
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = Deadlines(loop)
        watch = deadlines.watch(self._timeout)
        timed_out = False
        try:
            try:
                response = await self._client.request(
                    request.method,
                    request.url,
                    request.headers,
                    request.body,
                    max_body=self._max_response,
                )
            finally:
                timed_out = deadlines.end(watch)
        except asyncio.CancelledError:
            if not timed_out:
                raise  # cancelled by someone else (stopping): not an attempt's outcome
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


# A deadline found passed this late (the process was paused, or its loop starved)
# may find the response already arrived and unread; it is read, not called a
# timeout: the attempt gets LATE_GRACE more.
LATE = 0.5
LATE_GRACE = 0.25
TICK = 0.05  # how often the deadlines of attempts in flight are looked at


class _Watch:
    __slots__ = ("cancelling", "deadline", "expired", "graced", "task")

    def __init__(self, task: asyncio.Task[object], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.cancelling = task.cancelling()
        self.expired = False
        self.graced = False


class Deadlines:
    """The deadlines of one loop's attempts in flight, looked at by one timer every TICK.

    A timer per attempt (`asyncio.timeout` and `loop.call_at`, cancelled when
    the answer comes) cost ~6 µs of CPU per attempt on uvloop; one timer for
    all of them costs next to nothing per attempt. An attempt past its deadline
    is cancelled at most TICK late, never early, and ends as a timeout the way
    `asyncio.timeout` ends one (its own cancellation only, counted by
    `Task.uncancel`).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._watches: set[_Watch] = set()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, seconds: float) -> _Watch:
        """Start watching the current task: cancel it `seconds` from now."""
        task = asyncio.current_task(self.loop)
        assert task is not None, "an attempt runs in a task"
        watch = _Watch(task, self.loop.time() + seconds)
        self._watches.add(watch)
        if self._timer is None:
            self._timer = self.loop.call_at(self.loop.time() + TICK, self._tick)
        return watch

    def end(self, watch: _Watch) -> bool:
        """Stop watching; return True when the watch cancelled its task (a timeout)."""
        self._watches.discard(watch)
        return watch.expired and watch.task.uncancel() <= watch.cancelling

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        now = self.loop.time()
        for watch in self._watches:
            if watch.expired or now < watch.deadline:
                continue
            if now - watch.deadline > LATE and not watch.graced:
                # Paused past the deadline: bytes that arrived meanwhile are read
                # in this turn, after the timers; give them the grace to be taken.
                watch.graced = True
                watch.deadline = now + LATE_GRACE
                continue
            watch.expired = True
            watch.task.cancel()
        self._timer = self.loop.call_at(now + TICK, self._tick) if self._watches else None


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
