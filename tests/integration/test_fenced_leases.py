"""Fenced leases (issue #21, items 1, 2 and 5; issue #20, item 6), on both backends.

- A record made under a claim that is no longer current (its lease was taken
  over) is kept as `superseded` and changes neither its delivery nor its
  webhook's health.
- A delivering process's leases last while it lives: a process gone from this
  host is taken over at once, one whose heartbeat is stale after the timeout.
- A webhook's `last_error` stays after it recovers, with `last_error_at`.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from hookd.config import Settings
from hookd.delivery.heartbeat import Heartbeat
from hookd.domain.models import SUPERSEDED, DeliveryStatus
from hookd.store import Store
from hookd.store.records import Claimed
from hookd.store.workers import Owner, host_identity
from tests.support.factories import make_webhook, publish, record_for

URL = "https://receiver.example/hook"


def dead_pid() -> int:
    """Return the pid of a process that has ended."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


async def claim_one(store: Store, owner: str | None = None, *, lease: float = 60.0) -> Claimed:
    [claimed] = await store.deliveries.claim(1, lease_seconds=lease, now=time.time(), owner=owner)
    return claimed


async def attempts_of(store: Store, claimed: Claimed) -> list[tuple[int, str, int | None]]:
    detail = await store.deliveries.get(claimed.delivery.app_id, claimed.delivery.id)
    assert detail is not None
    return [(a.number, a.outcome, a.response_status) for a in detail.attempts]


class TestFencing:
    async def test_a_stale_timeout_after_anothers_success_changes_nothing(
        self, store: Store, app_id: str
    ) -> None:
        wh = await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        paused = await claim_one(store, lease=0.0)  # its lease runs out at once
        taken_over = await claim_one(store)  # another worker takes it over
        assert taken_over.delivery.id == paused.delivery.id
        assert taken_over.claim_token != paused.claim_token

        await store.deliveries.record(
            [record_for(taken_over, "succeeded", DeliveryStatus.SUCCEEDED)], now=time.time()
        )
        # The paused worker wakes and records what it saw before the takeover.
        stale = record_for(
            paused, "retry", DeliveryStatus.PENDING, code=None, error="timed out after 15 s"
        )
        await store.deliveries.record([stale], now=time.time())

        detail = await store.deliveries.get(app_id, paused.delivery.id)
        assert detail is not None
        assert detail.delivery.status is DeliveryStatus.SUCCEEDED
        assert detail.delivery.attempts == 1
        assert detail.delivery.last_error is None
        assert sorted(a.outcome for a in detail.attempts) == ["succeeded", SUPERSEDED]
        superseded = next(a for a in detail.attempts if a.outcome == SUPERSEDED)
        assert superseded.error_message == "timed out after 15 s"  # what it saw, kept
        health = await store.webhooks.get(app_id, wh.id)
        assert health is not None
        assert (health.failure_streak, health.last_error, health.last_error_at) == (0, None, None)
        assert health.last_success_at is not None

    async def test_a_stale_success_does_not_finish_a_delivery_taken_over(
        self, store: Store, app_id: str
    ) -> None:
        await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        paused = await claim_one(store, lease=0.0)
        current = await claim_one(store)
        stale = record_for(paused, "succeeded", DeliveryStatus.SUCCEEDED)
        await store.deliveries.record([stale], now=time.time())
        detail = await store.deliveries.get(app_id, paused.delivery.id)
        assert detail is not None
        # The current holder's attempt decides; the stale one is in the log only.
        assert detail.delivery.status is DeliveryStatus.SENDING
        assert [a.outcome for a in detail.attempts] == [SUPERSEDED]
        await store.deliveries.record(
            [record_for(current, "succeeded", DeliveryStatus.SUCCEEDED)], now=time.time()
        )
        assert await attempts_of(store, current) == [(1, SUPERSEDED, 200), (1, "succeeded", 200)]

    async def test_current_and_stale_records_in_one_batch(self, store: Store, app_id: str) -> None:
        wh = await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        await publish(store, app_id)
        [one, two] = await store.deliveries.claim(2, lease_seconds=60, now=time.time())
        await store.deliveries.release([two], now=time.time())  # two is someone else's now
        await store.deliveries.record(
            [
                record_for(one, "retry", DeliveryStatus.PENDING, code=500, error="HTTP 500"),
                record_for(two, "retry", DeliveryStatus.PENDING, code=500, error="HTTP 500"),
            ],
            now=time.time(),
        )
        health = await store.webhooks.get(app_id, wh.id)
        assert health is not None
        assert health.failure_streak == 1  # only the current record counted
        assert health.last_error == "HTTP 500"
        assert [o for _, o, _ in await attempts_of(store, two)] == [SUPERSEDED]


class TestLastErrorAt:
    async def test_last_error_stays_after_recovery_with_when_it_happened(
        self, store: Store, app_id: str
    ) -> None:
        wh = await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        failed_at = time.time() - 5
        c = await claim_one(store)
        await store.deliveries.record(
            [
                record_for(
                    c, "retry", DeliveryStatus.PENDING, code=503, error="HTTP 503", at=failed_at
                )
            ],
            now=time.time(),
        )
        c = await claim_one(store)
        await store.deliveries.record(
            [record_for(c, "succeeded", DeliveryStatus.SUCCEEDED)], now=time.time()
        )
        health = await store.webhooks.get(app_id, wh.id)
        assert health is not None
        assert health.failure_streak == 0
        assert health.last_error == "HTTP 503"
        assert health.last_error_at == pytest.approx(failed_at)
        assert health.last_success_at is not None and health.last_success_at > failed_at


def owner(id_: str, *, pid: int, host: str | None = None) -> Owner:
    return Owner(id_, host or host_identity(), pid)


class TestTakingOver:
    async def test_a_process_gone_from_this_host_is_taken_over_at_once(
        self, store: Store, app_id: str
    ) -> None:
        await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        gone = owner("wrk_gone", pid=dead_pid())
        await store.workers.register(gone, now=time.time())  # it beat just now
        held = await claim_one(store, owner=gone.id)
        assert held.claim_token.startswith("wrk_gone:")

        me = owner("wrk_me", pid=1)
        reaped = await store.workers.reap(me, now=time.time(), stale=10.0)
        assert (reaped.owners, reaped.released) == (["wrk_gone"], 1)
        again = await claim_one(store, owner=me.id)  # due at once, not after the lease
        assert again.delivery.id == held.delivery.id

    async def test_a_live_process_keeps_its_leases_and_a_silent_one_loses_them(
        self, store: Store, app_id: str
    ) -> None:
        await make_webhook(store, app_id, URL)
        for _ in range(3):
            await publish(store, app_id)
        now = time.time()
        alive = owner("wrk_alive", pid=1)  # pid 1 runs: this host's init
        elsewhere = owner("wrk_elsewhere", pid=dead_pid(), host="another-host/x/1")
        silent = owner("wrk_silent", pid=1)
        await store.workers.register(alive, now=now)
        await store.workers.register(elsewhere, now=now)
        await store.workers.register(silent, now=now - 11)
        for who in (alive, elsewhere, silent):
            await claim_one(store, owner=who.id)

        me = owner("wrk_me", pid=2)
        reaped = await store.workers.reap(me, now=now, stale=10.0)
        # Only the silent one: a dead pid on another host says nothing about it.
        assert (reaped.owners, reaped.released) == (["wrk_silent"], 1)
        assert (await store.workers.beat(alive, now=now, stale=10.0))[0]
        kept, _ = await store.workers.beat(silent, now=now, stale=10.0)
        assert not kept  # it must start anew

    async def test_a_heartbeat_presumed_dead_carries_on_under_a_new_id(
        self, store: Store, app_id: str, settings: Settings
    ) -> None:
        await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        beat = Heartbeat(store, settings)
        await beat.begin()
        try:
            first = beat.owner_id
            held = await claim_one(store, owner=first)
            assert beat.owns(held)
            # Another process found it silent and took its leases over.
            other = owner("wrk_other", pid=1)
            await store.workers.register(other, now=time.time())
            await store.workers.reap(other, now=time.time() + 60, stale=10.0)
            await beat.beat()
            assert beat.owner_id != first
            assert not beat.owns(held)  # what it claimed before is no longer its to send
        finally:
            await beat.stop()


class TestClaimsLostMidAnswer:
    async def test_an_owners_claims_it_never_saw_are_given_back(
        self, store: Store, app_id: str
    ) -> None:
        await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        await publish(store, app_id)
        me = owner("wrk_me", pid=1)
        await store.workers.register(me, now=time.time())
        seen = await claim_one(store, owner=me.id)  # answered: the worker holds it
        lost = await claim_one(store, owner=me.id)  # committed, but its answer was lost
        released = await store.workers.release_unknown(me.id, {seen.claim_token}, now=time.time())
        assert released == 1
        again = await claim_one(store, owner=me.id)  # due at once, not after the lease
        assert again.delivery.id == lost.delivery.id
        # What it holds stays its own: the record of the seen claim still applies.
        await store.deliveries.record(
            [record_for(seen, "succeeded", DeliveryStatus.SUCCEEDED)], now=time.time()
        )
        assert [o for _, o, _ in await attempts_of(store, seen)] == ["succeeded"]
