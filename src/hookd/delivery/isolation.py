"""Keep one webhook's trouble its own: a lane per webhook in each worker.

A lane lets at most `max_in_flight` of its webhook's requests be in flight and,
with a `rate_limit`, starts at most that many per second (a token bucket). The
deliveries claimed for it beyond that wait in the lane's short queue, which
holds no global concurrency slot; each claim takes at most what each lane has room
for (a full lane, nothing), and anything a lane cannot take is given back. So
a black-hole endpoint ties up its own lane, never the worker.

    Lanes.offer(claimed)   queue it in its webhook's lane (False: the lane is full)
    Lanes.pump             start what the lane's limits allow, now or when a token is due
    Lanes.done(webhook)    a request finished: its slot goes to the next in the queue
    Lanes.rooms()          how many more each lane can take (the next claim's bounds)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from hookd.store.records import Claimed

__all__ = ["Lane", "Lanes", "TokenBucket"]

IDLE_SECONDS = 60.0  # an idle lane is forgotten after this long (its bucket is full again)


class TokenBucket:
    """Allow `rate` events per second on average, at most `burst` at once."""

    def __init__(
        self, rate: float, burst: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()

    def wait(self) -> float:
        """Take a token and return 0.0, or return the seconds until one is due (taking none)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class Lane:
    """One webhook's requests in this worker: those in flight and those waiting."""

    def __init__(self, limit: int, rate: float | None) -> None:
        self.limit = max(1, limit)
        self.rate = rate
        self.bucket = TokenBucket(rate) if rate else None
        self.active = 0
        self.waiting: deque[Claimed] = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.last_used = time.monotonic()

    @property
    def full(self) -> bool:
        """Tell whether the queue holds as many as the lane may have in flight."""
        return len(self.waiting) >= self.limit

    @property
    def room(self) -> int:
        """Return how many more deliveries the lane takes: free slots plus free queue places."""
        return max(0, self.limit - self.active) + max(0, self.limit - len(self.waiting))

    def adjust(self, limit: int, rate: float | None) -> None:
        """Follow changes to the webhook's limits (seen on each claim)."""
        self.limit = max(1, limit)
        if rate != self.rate:
            self.rate = rate
            self.bucket = TokenBucket(rate) if rate else None


class Lanes:
    """The lanes of one worker; `start` runs a delivery whose turn has come."""

    def __init__(self, start: Callable[[Claimed], None]) -> None:
        self._start = start
        self._lanes: dict[str, Lane] = {}
        self.active = 0  # requests in flight, over all lanes

    @property
    def waiting(self) -> int:
        return sum(len(lane.waiting) for lane in self._lanes.values())

    def offer(self, claimed: Claimed) -> bool:
        """Queue a claimed delivery in its lane and start what may start; False if full."""
        webhook = claimed.webhook
        lane = self._lanes.get(webhook.id)
        if lane is None:
            lane = self._lanes[webhook.id] = Lane(webhook.max_in_flight, webhook.rate_limit)
        else:
            lane.adjust(webhook.max_in_flight, webhook.rate_limit)
        if lane.full:
            return False
        lane.waiting.append(claimed)
        self._pump(webhook.id, lane)
        return True

    def done(self, webhook_id: str) -> None:
        """Free the slot of a finished request and start the next one waiting."""
        lane = self._lanes.get(webhook_id)
        if lane is None:
            return
        lane.active -= 1
        self.active -= 1
        self._pump(webhook_id, lane)

    def rooms(self) -> dict[str, int]:
        """Return how many more deliveries each lane can take (0 when full)."""
        return {webhook_id: lane.room for webhook_id, lane in self._lanes.items()}

    def held(self) -> list[Claimed]:
        """Return the deliveries waiting in the lanes (they are not in flight yet)."""
        return [claimed for lane in self._lanes.values() for claimed in lane.waiting]

    def take_waiting(self) -> list[Claimed]:
        """Empty every queue (stopping): what never started goes back to the store."""
        out: list[Claimed] = []
        for lane in self._lanes.values():
            out.extend(lane.waiting)
            lane.waiting.clear()
            if lane.timer is not None:
                lane.timer.cancel()
                lane.timer = None
        return out

    def forget_idle(self) -> None:
        """Drop lanes nothing has used for a while."""
        cutoff = time.monotonic() - IDLE_SECONDS
        idle = [
            webhook_id
            for webhook_id, lane in self._lanes.items()
            if not lane.active and not lane.waiting and lane.last_used < cutoff
        ]
        for webhook_id in idle:
            del self._lanes[webhook_id]

    def _pump(self, webhook_id: str, lane: Lane) -> None:
        lane.last_used = time.monotonic()
        while lane.waiting and lane.active < lane.limit and lane.timer is None:
            if lane.bucket is not None:
                delay = lane.bucket.wait()
                if delay > 0:
                    lane.timer = asyncio.get_running_loop().call_later(
                        delay, self._tick, webhook_id, lane
                    )
                    return
            lane.active += 1
            self.active += 1
            self._start(lane.waiting.popleft())

    def _tick(self, webhook_id: str, lane: Lane) -> None:
        lane.timer = None
        self._pump(webhook_id, lane)
