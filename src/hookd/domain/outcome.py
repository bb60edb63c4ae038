"""What an attempt's result means for its delivery and its webhook.

2xx                 succeeded
410 Gone            failed, and the webhook is disabled
429 502 503 504     retry, honouring Retry-After
anything else       retry by the schedule (3xx included: redirects are not followed;
                    a timeout waits at least MIN_TIMEOUT_BACKOFF)
a request that can never be sent (body over the limit)   failed, no retries
no retries left     failed
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from http import HTTPStatus

from hookd.domain.retry import RetryPolicy, parse_retry_after

THROTTLE_STATUSES = frozenset({429, 502, 503, 504})
# Errors no retry can fix: the same request would be refused again.
PERMANENT_ERRORS = frozenset({"body_too_large"})


class Verdict(enum.StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"
    DISABLE = "disable"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one HTTP try produced: a status, or an error code and words for it."""

    status: int | None
    error_code: str | None = None
    error_message: str | None = None
    retry_after: str | None = None
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    retry_in: float | None = None
    error: str | None = None  # for webhook.last_error; None on success


def describe_status(status: int) -> str:
    """Return `404 Not Found`-style words for a status code."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def describe(result: AttemptResult) -> str | None:
    """Words a person understands for a failed attempt; None when it succeeded."""
    if result.status is not None:
        return None if 200 <= result.status < 300 else describe_status(result.status)
    return result.error_message or result.error_code or "unknown error"


def decide(
    result: AttemptResult,
    attempt: int,
    policy: RetryPolicy,
    *,
    now: float,
    rng: random.Random | None = None,
) -> Outcome:
    """Decide what follows attempt number `attempt` (1-based) given its result."""
    status = result.status
    if status is not None and 200 <= status < 300:
        return Outcome(Verdict.SUCCEEDED)
    error = describe(result)
    if status == 410:
        return Outcome(Verdict.DISABLE, error=error)
    if result.error_code in PERMANENT_ERRORS:
        return Outcome(Verdict.FAILED, error=error)
    retry_after = None
    if status in THROTTLE_STATUSES:
        retry_after = parse_retry_after(result.retry_after, now=now)
    delay = policy.delay_after(
        attempt, retry_after=retry_after, timed_out=result.timed_out, rng=rng
    )
    if delay is None:
        return Outcome(Verdict.FAILED, error=error)
    return Outcome(Verdict.RETRY, retry_in=delay, error=error)
