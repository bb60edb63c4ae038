"""A webhook's health: fold its attempts into a failure streak, then judge what follows.

    attempts ──fold──▶ Health(failure_streak, failing_since, last_success_at)
    Health ──judge──▶ disable (and why) | open the circuit until t | close it | nothing

Disabling and the circuit breaker answer two different questions. The circuit
asks "is it worth sending right now?": after `circuit_after_failures` failed
attempts in a row the webhook's pending deliveries wait as a group and one
probe tests the endpoint: the first 5 s after it opened, then after each failed
probe twice as long, up to `circuit_interval` (`probe_delay`), so a short outage
drains in seconds and a dead endpoint costs one request per interval instead of
one per delivery. Disabling asks "should hookd
stop trying?": after `disable_after_failures` failed attempts in a row, or
after failing for `disable_after_seconds` without a single success. A success
resets the streak and closes the circuit.

Pure: the store applies a judgement in the transaction that records the attempts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

__all__ = [
    "FIRST_PROBE",
    "Health",
    "Judgement",
    "Limits",
    "Try",
    "describe_duration",
    "fold",
    "judge",
    "probe_delay",
]

FIRST_PROBE = 5.0  # seconds from opening a circuit to its first probe


@dataclass(frozen=True, slots=True)
class Limits:
    """When hookd holds a webhook's deliveries back, and when it gives up on it (0: never)."""

    disable_after_failures: int = 100
    disable_after_seconds: float = 5 * 86400.0
    circuit_after_failures: int = 20
    circuit_interval: float = 60.0

    def for_webhook(self, failures: int | None, seconds: float | None) -> Limits:
        """Return these limits with a webhook's own thresholds (None: keep the instance's)."""
        return replace(
            self,
            disable_after_failures=self.disable_after_failures if failures is None else failures,
            disable_after_seconds=self.disable_after_seconds if seconds is None else seconds,
        )


@dataclass(frozen=True, slots=True)
class Health:
    """What hookd remembers about a webhook's recent attempts."""

    failure_streak: int = 0  # failed attempts since the last success
    failing_since: float | None = None  # the first of them
    last_success_at: float | None = None
    circuit_open_until: float | None = None  # None: closed; else when the next probe may go


@dataclass(frozen=True, slots=True)
class Try:
    """One attempt, as health sees it."""

    at: float
    succeeded: bool


@dataclass(frozen=True, slots=True)
class Judgement:
    """The webhook's health after a batch of attempts, and what must happen now."""

    health: Health
    disable: str | None = None  # why hookd disables it; None: it stays as it is
    circuit_opened: bool = False  # pending deliveries wait until health.circuit_open_until
    circuit_closed: bool = False  # deliveries held by the circuit may go now


def fold(health: Health, tries: Sequence[Try]) -> Health:
    """Return `health` after `tries` (applied in time order); the circuit is left as it was."""
    streak = health.failure_streak
    since = health.failing_since
    last_ok = health.last_success_at
    for t in sorted(tries, key=lambda t: t.at):
        if t.succeeded:
            streak, since = 0, None
            last_ok = t.at if last_ok is None else max(last_ok, t.at)
        else:
            streak += 1
            if since is None:
                since = t.at
    return replace(health, failure_streak=streak, failing_since=since, last_success_at=last_ok)


def judge(
    before: Health,
    tries: Sequence[Try],
    limits: Limits,
    *,
    now: float,
    last_error: str | None = None,
) -> Judgement:
    """Fold `tries` into `before` and decide: disable, open or close the circuit, or nothing."""
    after = fold(before, tries)
    if not tries:
        return Judgement(after)
    reason = _disable_reason(after, limits, now=now, last_error=last_error)
    if reason is not None:
        return Judgement(replace(after, circuit_open_until=None), disable=reason)
    last_failed = not max(tries, key=lambda t: t.at).succeeded
    threshold = limits.circuit_after_failures
    if last_failed and 0 < threshold <= after.failure_streak:
        # Failures of a closed circuit open it (first probe); of an open one, a probe failed.
        was_open = before.circuit_open_until
        failed = 0 if was_open is None else max(after.failure_streak - threshold, 1)
        until = now + probe_delay(failed, limits)
        if was_open is not None:
            # Attempts in flight when it opened end before the probe is due: no later.
            until = min(until, max(was_open, now))
        return Judgement(replace(after, circuit_open_until=until), circuit_opened=True)
    if after.failure_streak == 0 and before.circuit_open_until is not None:
        return Judgement(replace(after, circuit_open_until=None), circuit_closed=True)
    return Judgement(after)


def probe_delay(failed_probes: int, limits: Limits) -> float:
    """Return the wait before the next probe of an open circuit: 5 s, doubling to the interval.

    Derived from the failure streak already stored: each failed probe adds one to
    it beyond `circuit_after_failures`, so a short outage drains in seconds while
    a dead endpoint still costs one request per `circuit_interval`.
    """
    failed_probes = max(failed_probes, 0)
    first = min(FIRST_PROBE, limits.circuit_interval)
    return float(min(first * 2.0 ** min(failed_probes, 32), limits.circuit_interval))


def _disable_reason(
    health: Health, limits: Limits, *, now: float, last_error: str | None
) -> str | None:
    last = f"; the last error: {last_error}" if last_error else ""
    count = limits.disable_after_failures
    if 0 < count <= health.failure_streak:
        return f"{health.failure_streak} attempts in a row failed{last}"
    window = limits.disable_after_seconds
    since = health.failing_since
    if window > 0 and since is not None and now - since >= window:
        return (
            f"failing for {describe_duration(now - since)} without a success"
            f" (since {_utc(since)}){last}"
        )
    return None


def describe_duration(seconds: float) -> str:
    """Return a duration in words a person reads at a glance: `90 s`, `2 h 5 min`, `5 days`."""
    if not math.isfinite(seconds) or seconds < 0:
        return "an unknown time"
    whole = int(seconds)
    if whole < 120:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


def _utc(ts: float) -> str:
    try:
        return datetime.fromtimestamp(math.floor(ts), UTC).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return "an unknown time"
