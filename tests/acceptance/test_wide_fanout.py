"""An event owed to many webhooks reaches every one of them, even across a stop."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import httpx

from hookd.store import Store
from hookd.store.events import INLINE_FANOUT
from tests.acceptance.conftest import create_webhook
from tests.support.factories import publish
from tests.support.receiver import Receiver
from tests.support.server import HookdProcess

WIDE = INLINE_FANOUT * 3


def create_wide(api: httpx.Client, receiver: Receiver, count: int = WIDE) -> None:
    for i in range(count):
        create_webhook(api, f"{receiver.url}/wide/{i}")


def each_once(receiver: Receiver, count: int) -> Counter[str]:
    receiver.wait_for(count, timeout=30)
    by_path = Counter(r.path for r in receiver.received())
    assert len(by_path) == count and set(by_path.values()) == {1}, by_path
    return by_path


class TestWideFanout:
    def test_every_webhook_gets_the_event_once(self, api: httpx.Client, receiver: Receiver) -> None:
        create_wide(api, receiver)
        r = api.post("/v1/apps/default/events", json={"type": "job.success", "data": {"n": 1}})
        assert r.status_code == 202, r.text
        published = r.json()
        assert published["deliveries"] == WIDE
        each_once(receiver, WIDE)
        assert {req.json()["id"] for req in receiver.received()} == {published["id"]}
        page = api.get(
            "/v1/apps/default/deliveries", params={"event": published["id"], "limit": 250}
        ).json()
        assert len(page["data"]) == WIDE

    def test_a_fanout_another_process_left_is_delivered(
        self, hookd_factory: Callable[..., HookdProcess], receiver: Receiver, db_url: str
    ) -> None:
        first = hookd_factory().start()
        with first.client() as api:
            create_wide(api, receiver)
        first.stop()

        async def publish_without_expanding() -> int:
            # What a process that stopped right after the commit leaves behind.
            store = await Store.open(db_url)
            try:
                app = await store.apps.ensure_default(time.time())
                published = await publish(store, app.id, "job.success", {"left": True})
                assert published.deliveries == WIDE
                return await store.fanouts.owed()
            finally:
                await store.close()

        # Left while no hookd ran: made when one starts.
        assert asyncio.run(publish_without_expanding()) == 1
        assert receiver.received() == []
        hookd_factory().start()
        each_once(receiver, WIDE)
        # Left while one runs: found by its look every HOOKD_POLL_INTERVAL.
        receiver.clear()
        assert asyncio.run(publish_without_expanding()) >= 0
        each_once(receiver, WIDE)
