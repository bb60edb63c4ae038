"""Per-webhook lanes: an in-flight cap, a rate limit and a bounded queue (isolation.py)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from hookd.delivery.isolation import Lanes, TokenBucket
from hookd.domain.models import Delivery, DeliveryStatus, Webhook
from hookd.store.records import Claimed, StoredEvent


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def claimed(webhook: Webhook, n: int) -> Claimed:
    delivery = Delivery(f"dlv_{n}", "app", webhook.id, "evt", DeliveryStatus.SENDING, 0, 0, 0, 0)
    event = StoredEvent("evt", "app", "job.start", "{}", 0.0, True)
    return Claimed(delivery, "token", event, webhook)


def webhook(id_: str = "wh_1", **kw: object) -> Webhook:
    return replace(Webhook(id=id_, app_id="app", name="n", url="https://x", events=("*",)), **kw)  # type: ignore[arg-type]


class TestTokenBucket:
    @given(st.floats(0.1, 1000), st.lists(st.floats(0, 5), max_size=60))
    def test_never_more_than_rate_times_elapsed_plus_burst(
        self, rate: float, steps: list[float]
    ) -> None:
        clock = Clock()
        bucket = TokenBucket(rate, clock=clock)
        taken = 0
        for step in steps:
            clock.now += step
            while bucket.wait() == 0.0:
                taken += 1
        assert taken <= rate * clock.now + 1 + 1e-6

    def test_says_how_long_until_the_next_token(self) -> None:
        clock = Clock()
        bucket = TokenBucket(4.0, clock=clock)
        assert bucket.wait() == 0.0
        assert bucket.wait() == 0.25
        clock.now = 0.25
        assert bucket.wait() == 0.0


class TestLanes:
    async def test_at_most_max_in_flight_start_and_a_full_queue_refuses(self) -> None:
        started: list[Claimed] = []
        lanes = Lanes(started.append)
        wh = webhook(max_in_flight=2)
        accepted = [lanes.offer(claimed(wh, i)) for i in range(5)]
        assert accepted == [True, True, True, True, False]  # 2 in flight, 2 waiting
        assert len(started) == 2 and lanes.active == 2 and lanes.waiting == 2
        assert lanes.rooms() == {"wh_1": 0}
        lanes.done("wh_1")
        assert len(started) == 3 and lanes.active == 2 and lanes.rooms() == {"wh_1": 1}

    async def test_a_full_lane_does_not_affect_another(self) -> None:
        started: list[Claimed] = []
        lanes = Lanes(started.append)
        stuck, healthy = webhook("wh_stuck", max_in_flight=1), webhook("wh_ok")
        for i in range(2):
            lanes.offer(claimed(stuck, i))
        assert lanes.offer(claimed(healthy, 9))
        assert [c.webhook.id for c in started] == ["wh_stuck", "wh_ok"]

    async def test_the_rate_limit_spaces_starts(self) -> None:
        loop = asyncio.get_running_loop()
        starts: list[float] = []
        done = asyncio.Event()
        lanes: Lanes

        def start(item: Claimed) -> None:
            starts.append(loop.time())
            lanes.done(item.webhook.id)
            if len(starts) == 4:
                done.set()

        lanes = Lanes(start)
        wh = webhook(rate_limit=20.0, max_in_flight=10)
        for i in range(4):
            lanes.offer(claimed(wh, i))
        await asyncio.wait_for(done.wait(), 5)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(gap >= 0.04 for gap in gaps), gaps

    async def test_stopping_hands_back_what_never_started(self) -> None:
        lanes = Lanes(lambda _: None)
        wh = webhook(max_in_flight=1)
        for i in range(2):
            lanes.offer(claimed(wh, i))
        assert [c.delivery.id for c in lanes.take_waiting()] == ["dlv_1"]
        assert lanes.waiting == 0
