"""Ingest: concurrent single events share transactions, and each is answered after its commit."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hookd.config import Settings
from hookd.delivery.ingest import COMMITTERS, EventIn, Ingest
from hookd.store import Store
from tests.support.factories import make_webhook


async def test_concurrent_publishes_commit_together_and_each_gets_its_event(
    store: Store, settings: Settings
) -> None:
    app = await store.apps.ensure_default(time.time())
    await make_webhook(store, app.id, "https://example.com/hook")
    transactions = 0
    publish = store.events.publish

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal transactions
        transactions += 1
        return await publish(*args, **kwargs)

    store.events.publish = counted  # type: ignore[method-assign]
    ingest = Ingest(store, settings)
    results = await asyncio.gather(
        *(ingest.publish(app.id, [EventIn("job.start", {"n": i})]) for i in range(100))
    )
    ids = [r[0].event.id for r in results]
    assert len(set(ids)) == 100 and all(r[0].deliveries == 1 for r in results)
    assert transactions < 100  # grouped; how many depends on timing
    for i, event_id in enumerate(ids):
        stored = await store.events.get(app.id, event_id)
        assert stored is not None and stored.data_json == f'{{"n":{i}}}'


async def test_same_key_in_one_group_returns_the_original(store: Store, settings: Settings) -> None:
    app = await store.apps.ensure_default(time.time())
    await make_webhook(store, app.id, "https://example.com/hook")
    ingest = Ingest(store, settings)
    first, second = await asyncio.gather(
        ingest.publish(app.id, [EventIn("job.start", {}, "k-1")]),
        ingest.publish(app.id, [EventIn("job.start", {}, "k-1")]),
    )
    assert first[0].event.id == second[0].event.id
    assert [first[0].duplicate, second[0].duplicate].count(True) == 1
    page = await store.deliveries.page(app.id, limit=10)
    assert len(page.items) == 1


async def test_on_postgresql_group_commits_overlap(store: Store, settings: Settings) -> None:
    app = await store.apps.ensure_default(time.time())
    await make_webhook(store, app.id, "https://example.com/hook")
    running = most = 0
    publish = store.events.publish

    async def watched(*args: Any, **kwargs: Any) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            return await publish(*args, **kwargs)
        finally:
            running -= 1

    store.events.publish = watched  # type: ignore[method-assign]
    ingest = Ingest(store, settings)
    calls = []
    for i in range(40):
        calls.append(asyncio.create_task(ingest.publish(app.id, [EventIn("job.start", {"n": i})])))
        await asyncio.sleep(0)  # let a committer take what waits so far
    results = await asyncio.gather(*calls)
    assert len({r[0].event.id for r in results}) == 40
    # SQLite has one writer; PostgreSQL runs several group commits at once.
    if store.dialect == "sqlite":
        assert most == 1
    else:
        assert 1 < most <= COMMITTERS["postgresql"]


async def test_a_publish_right_after_another_is_committed(store: Store, settings: Settings) -> None:
    # The caller resumes before the finished committer's task is cleaned up; the
    # next call must still get a committer of its own.
    app = await store.apps.ensure_default(time.time())
    await make_webhook(store, app.id, "https://example.com/hook")
    ingest = Ingest(store, settings)
    async with asyncio.timeout(10):
        for i in range(5):
            [published] = await ingest.publish(app.id, [EventIn("job.start", {"n": i})])
            assert published.deliveries == 1
