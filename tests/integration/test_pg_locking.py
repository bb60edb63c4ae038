"""PostgreSQL locking between publishing and recording: no waits, no deadlocks.

Inserting a delivery takes FOR KEY SHARE on its webhook (the foreign key);
recording attempts locks the webhooks whose health it changes. Seen in the
benchmark at 1,000 events/s: with FOR UPDATE there, a publish and a worker
locked two webhooks in opposite orders and PostgreSQL ended one of them
("deadlock detected"), a 500 for the publisher.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from hookd import ids
from hookd.delivery.ingest import choose
from hookd.domain.models import DeliveryStatus
from hookd.store import Store, direct
from hookd.store.records import NewEvent
from tests.support.factories import make_webhook, publish, record_for

pytestmark = pytest.mark.postgres


async def test_recording_does_not_wait_for_a_publish_to_the_same_webhook(
    pg_url: str, pg_store: Store
) -> None:
    app = await pg_store.apps.ensure_default(time.time())
    webhook = await make_webhook(pg_store, app.id, "https://example.com/hook")
    await publish(pg_store, app.id)
    [claimed] = await pg_store.deliveries.claim(10, lease_seconds=60, now=time.time())

    # A publish in progress: its delivery row holds KEY SHARE on the webhook.
    other = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await other.execute("BEGIN")
        event_id = ids.new_id("evt")
        await other.execute(
            "INSERT INTO events (id, app_id, type, data, timestamp, live, created_at)"
            " VALUES ($1, $2, 'job.start', '{}', 0, true, 0)",
            event_id,
            app.id,
        )
        await other.execute(
            "INSERT INTO deliveries (id, app_id, webhook_id, event_id, status,"
            " next_attempt_at, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, 'pending', 0, 0, 0)",
            ids.new_id("dlv"),
            app.id,
            webhook.id,
            event_id,
        )
        record = record_for(claimed, "failed", DeliveryStatus.PENDING, code=500)
        # Health changes (a failure) are written while the publish is still open.
        await asyncio.wait_for(pg_store.deliveries.record([record], now=time.time()), 5)
        await other.execute("COMMIT")
    finally:
        await other.close()
    found = await pg_store.webhooks.get(app.id, webhook.id)
    assert found is not None and found.failure_streak == 1


async def test_a_transaction_ended_by_a_deadlock_is_run_again(pg_store: Store) -> None:
    runs = 0

    def body(tx: direct.Tx) -> int:
        nonlocal runs
        runs += 1
        if runs == 1:  # PostgreSQL ends this one as it would a deadlock victim
            tx.rows("DO $$ BEGIN RAISE EXCEPTION 'victim' USING ERRCODE = '40P01'; END $$")
        [(value,)] = tx.rows("SELECT 41 + 1")
        return int(value)

    assert await direct.transaction(pg_store.engines.write, body) == 42
    assert runs == 2


async def test_other_errors_are_not_run_again(pg_store: Store) -> None:
    runs = 0

    def body(tx: direct.Tx) -> None:
        nonlocal runs
        runs += 1
        tx.rows("SELECT 1 / 0")

    with pytest.raises(DBAPIError, match="division by zero"):
        await direct.transaction(pg_store.engines.write, body)
    assert runs == 1


async def test_one_key_published_by_transactions_at_once_makes_one_event(
    pg_store: Store,
) -> None:
    # Each transaction finds no earlier event with the key; the first to commit
    # wins the unique constraint and the others, run again, answer with its event.
    app = await pg_store.apps.ensure_default(time.time())
    await make_webhook(pg_store, app.id, "https://example.com/hook")
    results = await asyncio.gather(
        *(
            pg_store.events.publish(
                app.id,
                [NewEvent("job.start", "{}", "k-1")],
                choose,
                now=time.time(),
                idempotency_window=3600,
            )
            for _ in range(6)
        )
    )
    assert len({r[0].event.id for r in results}) == 1
    assert [r[0].duplicate for r in results].count(False) == 1
    page = await pg_store.deliveries.page(app.id, limit=10)
    assert len(page.items) == 1
