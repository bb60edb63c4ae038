"""Ids sort by creation time, and ids made together sort in the order they were made."""

from __future__ import annotations

import time

from hookd import ids


def test_ids_made_in_one_millisecond_sort_in_the_order_made() -> None:
    now = time.time()
    made = [ids.new_id(prefix, now) for prefix in ("evt", "dlv") for _ in range(500)]
    events, deliveries = made[:500], made[500:]
    assert events == sorted(events) and deliveries == sorted(deliveries)
    assert len(set(made)) == 1000


def test_ids_sort_by_time_and_an_earlier_time_does_not_disturb_the_order() -> None:
    now = time.time()
    first = ids.new_id("evt", now)
    earlier = ids.new_id("evt", now - 3600)
    second = ids.new_id("evt", now)
    assert earlier < first < second
    assert ids.has_prefix(second, "evt")
