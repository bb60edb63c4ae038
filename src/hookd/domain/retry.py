"""When to try a delivery again.

The schedule lists the seconds to wait before each retry; a delivery gets
`len(schedule) + 1` attempts. Each delay is spread by ±jitter so that many
deliveries failing together do not retry together. A `Retry-After` from the
receiver (429/502/503/504) replaces the delay, bounded by the schedule's longest
entry so a receiver cannot park a delivery forever.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

MIN_TIMEOUT_BACKOFF = 5.0  # a timed-out endpoint is not hammered even with a tight schedule


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    schedule: tuple[float, ...]
    jitter: float = 0.2

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    @property
    def max_delay(self) -> float:
        return max(self.schedule, default=0.0)

    def delay_after(
        self,
        attempt: int,
        *,
        retry_after: float | None = None,
        timed_out: bool = False,
        rng: random.Random | None = None,
    ) -> float | None:
        """Seconds to wait after failed attempt number `attempt` (1-based); None: give up."""
        if attempt < 1 or attempt > len(self.schedule):
            return None
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        base = self.schedule[attempt - 1]
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        delay = max(base * (1.0 + spread), 0.0)
        if timed_out:
            delay = max(delay, min(MIN_TIMEOUT_BACKOFF, self.max_delay))
        return delay


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Read a Retry-After header (delta seconds or HTTP date) as seconds from `now`."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - now, 0.0)
