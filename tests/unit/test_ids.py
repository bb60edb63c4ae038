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


def test_ids_made_in_bulk_sort_in_order_and_after_those_made_before() -> None:
    now = time.time()
    before = ids.new_id("dlv", now)
    bulk = ids.new_ids("dlv", 3000, now)  # more than one 1,024-id block
    after = ids.new_id("dlv", now)
    assert [before, *bulk, after] == sorted([before, *bulk, after])
    assert len(set(bulk)) == 3000
    assert all(ids.has_prefix(i, "dlv") for i in bulk)


def test_an_id_spells_its_time_and_counter_in_crockford_base32() -> None:
    assert ids.encode(0) == "0" * 26
    assert ids.encode((1 << 128) - 1) == "7" + "z" * 25  # 130 bits hold 128: the top char is 2 bits
    assert ids.encode(31) == "0" * 25 + "z"
    assert ids.encode(1 << 80) == "0" * 9 + "1" + "0" * 16  # 1 ms: the 80-bit part is 16 chars
