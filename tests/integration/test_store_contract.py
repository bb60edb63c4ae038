"""The store's promises, checked on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import time

import pytest

from hookd.domain.models import DeliveryStatus
from hookd.store import Store
from hookd.store.records import NewEvent
from tests.support.factories import everyone, make_webhook, publish, record_for

URL = "https://example.com/hook"


@pytest.fixture
async def app_id(store: Store) -> str:
    return (await store.apps.ensure_default(time.time())).id


class TestApps:
    async def test_default_app_exists_once(self, store: Store) -> None:
        a = await store.apps.ensure_default(time.time())
        b = await store.apps.ensure_default(time.time())
        assert a == b and a.uid == "default"
        assert await store.apps.get(a.id) == a

    async def test_keys_are_found_by_hash_until_revoked(self, store: Store, app_id: str) -> None:
        key = await store.apps.add_key(app_id, "ci", "hk_abcde", "h" * 64, time.time())
        assert (await store.apps.find_key("h" * 64)) == key
        assert await store.apps.revoke_key(app_id, key.id, time.time())
        assert await store.apps.find_key("h" * 64) is None


class TestFanout:
    async def test_event_and_deliveries_for_matching_webhooks_only(
        self, store: Store, app_id: str
    ) -> None:
        exact = await make_webhook(store, app_id, URL, ["job.start"])
        prefix = await make_webhook(store, app_id, URL, ["job.*"])
        star = await make_webhook(store, app_id, URL, ["*"])
        await make_webhook(store, app_id, URL, ["job.success"])
        await make_webhook(store, app_id, URL, ["job.start"], enabled=False)
        published = await publish(store, app_id, "job.start", {"n": 1})
        assert published.deliveries == 3
        page = await store.deliveries.page(app_id, limit=10, event_id=published.event.id)
        assert {d.webhook_id for d in page.items} == {exact.id, prefix.id, star.id}
        assert all(d.status is DeliveryStatus.PENDING for d in page.items)

    async def test_webhook_subscribed_twice_gets_one_delivery(
        self, store: Store, app_id: str
    ) -> None:
        await make_webhook(store, app_id, URL, ["job.start", "job.*", "*"])
        assert (await publish(store, app_id, "job.start")).deliveries == 1

    async def test_data_is_kept_byte_for_byte(self, store: Store, app_id: str) -> None:
        published = await publish(store, app_id, "job.start", {"z": 1, "a": 'é\n"}'})
        stored = await store.events.get(app_id, published.event.id)
        assert stored is not None and stored.data_json == '{"z":1,"a":"é\\n\\"}"}'

    async def test_idempotency_key_returns_the_original(self, store: Store, app_id: str) -> None:
        await make_webhook(store, app_id, URL)
        first = await publish(store, app_id, key="order-1")
        again = await publish(store, app_id, key="order-1")
        assert again.duplicate and again.event.id == first.event.id and again.deliveries == 1
        page = await store.deliveries.page(app_id, limit=10)
        assert len(page.items) == 1


class TestClaims:
    async def test_claim_leases_and_returns_what_sending_needs(
        self, store: Store, app_id: str
    ) -> None:
        wh = await make_webhook(store, app_id, URL)
        published = await publish(store, app_id, data={"x": 1})
        [claimed] = await store.deliveries.claim(10, lease_seconds=30, now=time.time())
        assert claimed.webhook.id == wh.id and claimed.event.id == published.event.id
        assert claimed.event.data_json == '{"x":1}'
        assert await store.deliveries.claim(10, lease_seconds=30, now=time.time()) == []

    async def test_expired_lease_is_claimable_again(self, store: Store, app_id: str) -> None:
        await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        now = time.time()
        [first] = await store.deliveries.claim(10, lease_seconds=5, now=now)
        [second] = await store.deliveries.claim(10, lease_seconds=5, now=now + 6)
        assert first.delivery.id == second.delivery.id and first.claim_token != second.claim_token
        # the first worker's late result no longer applies
        await store.deliveries.record(
            [record_for(first, "succeeded", DeliveryStatus.SUCCEEDED)], now=now
        )
        detail = await store.deliveries.get(app_id, first.delivery.id)
        assert detail is not None and detail.delivery.status is DeliveryStatus.SENDING

    async def test_concurrent_claimers_never_share_a_delivery(
        self, store: Store, app_id: str
    ) -> None:
        await make_webhook(store, app_id, URL)
        for _ in range(20):
            await store.events.publish(
                app_id,
                [NewEvent("job.start", "{}")] * 25,
                everyone,
                now=time.time(),
                idempotency_window=1,
            )
        others = [await Store.open(str(store.engines.write.url), migrate=False) for _ in range(3)]
        try:

            async def drain(s: Store) -> list[str]:
                got: list[str] = []
                while batch := await s.deliveries.claim(17, lease_seconds=60, now=time.time()):
                    got += [c.delivery.id for c in batch]
                return got

            results = await asyncio.gather(*(drain(s) for s in [store, *others]))
        finally:
            for s in others:
                await s.close()
        claimed = [d for r in results for d in r]
        assert len(claimed) == 500 and len(set(claimed)) == 500

    async def test_each_webhook_is_claimed_up_to_its_room_oldest_webhook_first(
        self, store: Store, app_id: str
    ) -> None:
        busy = await make_webhook(store, app_id, URL + "/busy", events=("busy.x",))
        calm = await make_webhook(store, app_id, URL + "/calm", events=("calm.x",))
        new = await make_webhook(store, app_id, URL + "/new", events=("new.x",))
        for _ in range(30):
            await publish(store, app_id, "busy.x")
        for name in ("calm.x", "new.x"):
            for _ in range(5):
                await publish(store, app_id, name)
        got = await store.deliveries.claim(
            100,
            lease_seconds=30,
            now=time.time(),
            room={busy.id: 0, calm.id: 2},
            default_room=3,
        )
        by_webhook = {w: sum(c.webhook.id == w for c in got) for w in (busy.id, calm.id, new.id)}
        assert by_webhook == {busy.id: 0, calm.id: 2, new.id: 3}
        # Oldest first within a webhook; a full lane's backlog is not scanned past.
        calm_got = [c.delivery for c in got if c.webhook.id == calm.id]
        assert calm_got == sorted(calm_got, key=lambda d: d.next_attempt_at)
        [oldest] = await store.deliveries.claim(1, lease_seconds=30, now=time.time())
        assert oldest.webhook.id == busy.id  # the webhook waiting longest goes first

    async def test_disabled_webhook_deliveries_wait_and_resume(
        self, store: Store, app_id: str
    ) -> None:
        wh = await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        await store.webhooks.update(app_id, wh.id, {"enabled": False}, time.time())
        assert await store.deliveries.claim(10, lease_seconds=5, now=time.time()) == []
        assert await store.deliveries.count_pending() == 0
        await store.webhooks.update(app_id, wh.id, {"enabled": True}, time.time())
        assert len(await store.deliveries.claim(10, lease_seconds=5, now=time.time())) == 1


class TestRecording:
    async def test_outcomes_update_delivery_and_webhook_health(
        self, store: Store, app_id: str
    ) -> None:
        wh = await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        [c] = await store.deliveries.claim(10, lease_seconds=5, now=time.time())
        await store.deliveries.record(
            [
                record_for(
                    c,
                    "retry",
                    DeliveryStatus.PENDING,
                    code=404,
                    error="404 Not Found",
                    next_at=time.time() - 1,
                )
            ],
            now=time.time(),
        )
        after = await store.webhooks.get(app_id, wh.id)
        assert (
            after is not None and after.failure_streak == 1 and after.last_error == "404 Not Found"
        )
        [c2] = await store.deliveries.claim(10, lease_seconds=5, now=time.time())
        assert c2.delivery.attempts == 1
        await store.deliveries.record(
            [record_for(c2, "succeeded", DeliveryStatus.SUCCEEDED)], now=time.time()
        )
        detail = await store.deliveries.get(app_id, c.delivery.id)
        assert detail is not None and detail.delivery.status is DeliveryStatus.SUCCEEDED
        assert [a.number for a in detail.attempts] == [1, 2]
        healthy = await store.webhooks.get(app_id, wh.id)
        assert (
            healthy is not None
            and healthy.failure_streak == 0
            and healthy.last_error == "404 Not Found"
        )

    async def test_disable_parks_what_the_webhook_is_owed(self, store: Store, app_id: str) -> None:
        wh = await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        await publish(store, app_id)
        [c, _] = await store.deliveries.claim(1, lease_seconds=5, now=time.time()) + [None]
        assert c is not None
        await store.deliveries.record(
            [
                record_for(
                    c, "disable", DeliveryStatus.FAILED, code=410, error="410 Gone", disable="gone"
                )
            ],
            now=time.time(),
        )
        after = await store.webhooks.get(app_id, wh.id)
        assert after is not None and not after.enabled and after.disabled_reason == "gone"
        assert await store.deliveries.claim(10, lease_seconds=5, now=time.time()) == []

    async def test_retry_makes_a_failed_delivery_due(self, store: Store, app_id: str) -> None:
        await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        [c] = await store.deliveries.claim(1, lease_seconds=5, now=time.time())
        assert not await store.deliveries.retry(app_id, c.delivery.id, now=time.time())  # in flight
        await store.deliveries.record(
            [record_for(c, "failed", DeliveryStatus.FAILED, code=500)], now=time.time()
        )
        assert await store.deliveries.retry(app_id, c.delivery.id, now=time.time())
        assert len(await store.deliveries.claim(1, lease_seconds=5, now=time.time())) == 1


class TestIsolationBetweenApps:
    async def test_deleting_another_apps_webhook_touches_nothing(
        self, store: Store, app_id: str
    ) -> None:
        wh = await make_webhook(store, app_id, URL)
        await publish(store, app_id)
        other = await store.apps.create("other", "Other", time.time())
        assert not await store.webhooks.delete(other.id, wh.id)
        assert await store.webhooks.get(app_id, wh.id) is not None
        assert len((await store.deliveries.page(app_id, limit=10)).items) == 1


class TestPaging:
    async def test_deliveries_newest_first_with_a_stable_cursor(
        self, store: Store, app_id: str
    ) -> None:
        await make_webhook(store, app_id, URL)
        for _ in range(7):
            await publish(store, app_id)
        seen: list[str] = []
        cursor = None
        while True:
            page = await store.deliveries.page(app_id, limit=3, before=cursor)
            seen += [d.id for d in page.items]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert len(seen) == 7 and seen == sorted(seen, reverse=True)

    async def test_webhooks_in_creation_order(self, store: Store, app_id: str) -> None:
        made = [await make_webhook(store, app_id, URL) for _ in range(5)]
        first = await store.webhooks.page(app_id, limit=2)
        second = await store.webhooks.page(app_id, limit=10, after=first.next_cursor)
        assert [w.id for w in first.items + second.items] == [w.id for w in made]
