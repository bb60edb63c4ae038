"""Wide fan-outs: the publish commits the event and what it owes; deliveries follow in chunks.

On both backends: the answer counts every delivery, the deliveries are made
exactly once whoever expands them and in whatever chunks, changes made to a
webhook between the publish and the expansion are honoured, and the copy of
the subscriptions that publishing keeps follows every change, including those
made by another process.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from hookd.delivery.fanout import Expander
from hookd.delivery.ingest import choose
from hookd.domain.models import PARKED_AT, Delivery, DeliveryStatus, Webhook
from hookd.store import Store
from hookd.store.events import INLINE_FANOUT
from hookd.store.records import NewEvent, Published
from tests.conftest import opened
from tests.support.factories import make_webhook, publish, record_for

URL = "https://example.com/hook"
WIDE = INLINE_FANOUT + 10
PENDING = DeliveryStatus.PENDING


@pytest.fixture
async def app_id(store: Store) -> str:
    return (await store.apps.ensure_default(time.time())).id


async def many_webhooks(store: Store, app_id: str, count: int = WIDE) -> list[Webhook]:
    return [await make_webhook(store, app_id, f"{URL}/{i}") for i in range(count)]


async def deliveries_of(store: Store, app_id: str, published: Published) -> list[Delivery]:
    page = await store.deliveries.page(app_id, limit=1000, event_id=published.event.id)
    return list(page.items)


async def expand_all(store: Store, most: int = 500) -> list[int]:
    """Expand until nothing is owed; return what each call took."""
    takes = []
    while taken := await store.fanouts.expand(most):
        takes.append(taken)
    return takes


class TestWidePublish:
    async def test_the_answer_counts_every_delivery_before_they_exist(
        self, store: Store, app_id: str
    ) -> None:
        hooks = await many_webhooks(store, app_id)
        published = await publish(store, app_id)
        assert published.deliveries == WIDE
        assert await deliveries_of(store, app_id, published) == []
        assert await store.fanouts.owed() == 1
        assert store.fanouts_owed.is_set()  # this process's expander is told
        assert await expand_all(store) == [WIDE]
        made = await deliveries_of(store, app_id, published)
        assert sorted(d.webhook_id for d in made) == sorted(h.id for h in hooks)
        assert {d.status for d in made} == {DeliveryStatus.PENDING}
        # Made as of the publish: due at once, in publish order with later events.
        assert {d.created_at for d in made} == {published.event.timestamp}
        assert {d.next_attempt_at for d in made} == {published.event.timestamp}
        assert await store.fanouts.owed() == 0

    async def test_a_narrow_publish_makes_its_deliveries_at_once(
        self, store: Store, app_id: str
    ) -> None:
        await many_webhooks(store, app_id, INLINE_FANOUT)
        published = await publish(store, app_id)
        assert len(await deliveries_of(store, app_id, published)) == INLINE_FANOUT
        assert await store.fanouts.owed() == 0

    async def test_chunks_make_each_delivery_once(self, store: Store, app_id: str) -> None:
        await many_webhooks(store, app_id)
        first = await publish(store, app_id)
        second = await publish(store, app_id)
        takes = await expand_all(store, most=25)
        assert takes == [25, 25, 25, 25, 20] and sum(takes) == 2 * WIDE
        for published in (first, second):
            made = await deliveries_of(store, app_id, published)
            assert len(made) == WIDE and len({d.webhook_id for d in made}) == WIDE

    async def test_the_expander_makes_every_chunk_and_stops_when_nothing_is_left(
        self, store: Store, app_id: str
    ) -> None:
        await many_webhooks(store, app_id)
        published = [await publish(store, app_id) for _ in range(2)]
        assert await Expander(store, poll=60, chunk=25).run_once() == 2 * WIDE
        assert await store.fanouts.owed() == 0
        for p in published:
            assert len(await deliveries_of(store, app_id, p)) == WIDE

    async def test_a_repeated_key_counts_what_is_still_owed(
        self, store: Store, app_id: str
    ) -> None:
        await many_webhooks(store, app_id)
        first = await publish(store, app_id, key="wide-1")
        await store.fanouts.expand(most=7)
        again = await publish(store, app_id, key="wide-1")
        assert again.duplicate and again.event.id == first.event.id
        assert again.deliveries == WIDE
        await expand_all(store)
        assert len(await deliveries_of(store, app_id, first)) == WIDE

    async def test_changes_after_the_publish_are_honoured(self, store: Store, app_id: str) -> None:
        hooks = await many_webhooks(store, app_id)
        published = await publish(store, app_id)
        gone, off, queued = hooks[0], hooks[1], hooks[2]
        assert await store.webhooks.delete(app_id, gone.id)
        await store.webhooks.update(app_id, off.id, {"enabled": False}, time.time())
        await store.webhooks.update(app_id, queued.id, {"mode": "queued"}, time.time())
        await expand_all(store)
        made = {d.webhook_id: d for d in await deliveries_of(store, app_id, published)}
        assert len(made) == WIDE - 1 and gone.id not in made
        assert made[queued.id].status is DeliveryStatus.QUEUED
        assert made[off.id].status is DeliveryStatus.PENDING
        assert made[off.id].next_attempt_at == PARKED_AT  # waits until enabled again
        await store.webhooks.update(app_id, off.id, {"enabled": True}, time.time())
        resumed = {d.webhook_id: d for d in await deliveries_of(store, app_id, published)}
        assert resumed[off.id].next_attempt_at <= time.time()

    async def test_two_processes_expanding_at_once_make_each_delivery_once(
        self, store: Store, app_id: str, db_url: str
    ) -> None:
        await many_webhooks(store, app_id)
        published = [await publish(store, app_id) for _ in range(6)]
        async with opened(db_url) as other:
            takes = await asyncio.gather(expand_all(store, most=40), expand_all(other, most=40))
        assert sum(map(sum, takes)) == 6 * WIDE
        for p in published:
            made = Counter(d.webhook_id for d in await deliveries_of(store, app_id, p))
            assert len(made) == WIDE and set(made.values()) == {1}

    async def test_an_event_owing_a_fan_out_is_not_purged(self, store: Store, app_id: str) -> None:
        await many_webhooks(store, app_id)
        published = await publish(store, app_id)
        purged = await store.retention.purge(before=time.time() + 60)
        assert purged.events == 0
        assert await store.events.get(app_id, published.event.id) is not None
        await expand_all(store)
        assert len(await deliveries_of(store, app_id, published)) == WIDE


class TestSubscriptionsCopy:
    async def test_publishing_again_reads_no_subscriptions(self, store: Store, app_id: str) -> None:
        await many_webhooks(store, app_id, 3)
        await publish(store, app_id)
        reads = store.events.subscriptions.reads
        for _ in range(5):
            assert (await publish(store, app_id)).deliveries == 3
        assert store.events.subscriptions.reads == reads

    async def test_every_change_that_decides_who_gets_an_event_is_seen(
        self, store: Store, app_id: str
    ) -> None:
        [a, b] = await many_webhooks(store, app_id, 2)

        async def targets() -> dict[str, DeliveryStatus]:
            [published] = await store.events.publish(
                app_id,
                [NewEvent("job.start", '{"tier":"gold"}')],
                choose,  # what the API publishes with: filters apply
                now=time.time(),
                idempotency_window=60,
            )
            return {d.webhook_id: d.status for d in await deliveries_of(store, app_id, published)}

        assert await targets() == {a.id: PENDING, b.id: PENDING}
        c = await make_webhook(store, app_id, URL)
        assert await targets() == {a.id: PENDING, b.id: PENDING, c.id: PENDING}
        await store.webhooks.update(app_id, a.id, {"enabled": False}, time.time())
        assert await targets() == {b.id: PENDING, c.id: PENDING}
        await store.webhooks.update(app_id, b.id, {"filter": {"tier": "silver"}}, time.time())
        assert await targets() == {c.id: PENDING}
        await store.webhooks.update(app_id, c.id, {"events": ["job.end"]}, time.time())
        assert await targets() == {}
        await store.webhooks.update(app_id, a.id, {"enabled": True}, time.time())
        assert await targets() == {a.id: PENDING}
        await store.webhooks.update(app_id, a.id, {"mode": "queued"}, time.time())
        assert await targets() == {a.id: DeliveryStatus.QUEUED}
        assert await store.webhooks.delete(app_id, a.id)
        assert await targets() == {}

    async def test_a_change_made_by_another_process_is_seen(
        self, store: Store, app_id: str, db_url: str
    ) -> None:
        [a] = await many_webhooks(store, app_id, 1)
        assert (await publish(store, app_id)).deliveries == 1
        async with opened(db_url) as other:
            b = await make_webhook(other, app_id, URL)
            assert (await publish(store, app_id)).deliveries == 2
            await other.webhooks.update(app_id, a.id, {"enabled": False}, time.time())
            published = await publish(store, app_id)
        [only] = await deliveries_of(store, app_id, published)
        assert only.webhook_id == b.id

    async def test_a_webhook_disabled_by_its_failures_gets_no_more(
        self, store: Store, app_id: str
    ) -> None:
        [a, b] = await many_webhooks(store, app_id, 2)
        await publish(store, app_id)
        [claimed] = await store.deliveries.claim(1, lease_seconds=5, now=time.time())
        gone = record_for(claimed, "disable", DeliveryStatus.FAILED, code=410, disable="gone")
        await store.deliveries.record([gone], now=time.time())
        [left] = {a.id, b.id} - {claimed.webhook.id}
        assert (await publish(store, app_id)).deliveries == 1
        assert [
            d.webhook_id for d in await deliveries_of(store, app_id, await publish(store, app_id))
        ] == [left]

    async def test_updates_that_change_no_subscription_keep_the_copy(
        self, store: Store, app_id: str
    ) -> None:
        [a] = await many_webhooks(store, app_id, 1)
        await publish(store, app_id)
        reads = store.events.subscriptions.reads
        changes = {"name": "renamed", "url": URL + "/x", "max_in_flight": 3}
        await store.webhooks.update(app_id, a.id, changes, time.time())
        await publish(store, app_id)
        assert store.events.subscriptions.reads == reads
