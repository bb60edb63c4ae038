"""Retention: what is finished and old goes, in small transactions; nothing else does."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from hookd.config import Settings
from hookd.domain.models import DeliveryStatus, Webhook
from hookd.runtime import Runtime
from hookd.store import Store
from hookd.store.records import Claimed, NewEvent
from hookd.store.retention import Step
from hookd.store.tables import attempts, batch_events, deliveries, events
from tests.support.factories import everyone, make_webhook, record_for
from tests.support.polling import eventually

DAY = 86400.0
NOW = time.time()
OLD = NOW - 40 * DAY  # older than the default 30 days
CUTOFF = NOW - 30 * DAY
URL = "https://example.com/hook"
OUTCOMES = {
    DeliveryStatus.SUCCEEDED: "succeeded",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.PENDING: "retry",
}


@pytest.fixture
async def app_id(store: Store) -> str:
    return (await store.apps.ensure_default(time.time())).id


@pytest.fixture
async def webhook(store: Store, app_id: str) -> Webhook:
    return await make_webhook(store, app_id, URL)


async def publish_at(
    store: Store, app_id: str, at: float, count: int = 1, type_: str = "job.start"
) -> list[str]:
    """Publish `count` events as if at `at`; return their ids."""
    published = await store.events.publish(
        app_id,
        [NewEvent(type_, "{}") for _ in range(count)],
        everyone,
        now=at,
        idempotency_window=DAY,
    )
    return [p.event.id for p in published]


async def attempt_at(
    store: Store, at: float, status: DeliveryStatus, count: int = 1
) -> list[Claimed]:
    """Claim `count` due deliveries and record one attempt each, ending in `status`, at `at`."""
    claimed = await store.deliveries.claim(count, lease_seconds=60, now=at)
    assert len(claimed) == count
    code = 200 if status is DeliveryStatus.SUCCEEDED else 500
    records = [record_for(c, OUTCOMES[status], status, code=code, at=at) for c in claimed]
    await store.deliveries.record(records, now=at)
    return claimed


async def counts(store: Store) -> dict[str, int]:
    async with store.engines.read.connect() as conn:
        return {
            t.name: (await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one()
            for t in (deliveries, attempts, events)
        }


async def delivery_ids(store: Store) -> set[str]:
    async with store.engines.read.connect() as conn:
        return set((await conn.execute(sa.select(deliveries.c.id))).scalars())


class TestPurge:
    async def test_finished_and_old_goes_with_its_attempts_and_events(
        self, store: Store, app_id: str, webhook: Webhook
    ) -> None:
        await publish_at(store, app_id, OLD, 3)
        old_done = await attempt_at(store, OLD, DeliveryStatus.SUCCEEDED, 2)
        [old_failed] = await attempt_at(store, OLD, DeliveryStatus.FAILED)
        # An old delivery retried by hand yesterday: finished, but touched recently.
        await publish_at(store, app_id, OLD)
        [retried] = await attempt_at(store, OLD, DeliveryStatus.FAILED)
        assert await store.deliveries.retry(app_id, retried.delivery.id, now=NOW - DAY)
        await attempt_at(store, NOW - DAY, DeliveryStatus.SUCCEEDED)
        await publish_at(store, app_id, NOW - DAY)
        [recent] = await attempt_at(store, NOW - DAY, DeliveryStatus.SUCCEEDED)
        # An old delivery still owed (a retry is pending): it and its event stay.
        [old_event] = await publish_at(store, app_id, OLD)
        [waiting] = await attempt_at(store, OLD, DeliveryStatus.PENDING)
        before = await counts(store)
        assert before == {"deliveries": 6, "attempts": 7, "events": 6}

        purged = await store.retention.purge(before=CUTOFF)

        assert (purged.deliveries, purged.attempts, purged.events) == (3, 3, 3)
        assert await delivery_ids(store) == {
            retried.delivery.id,
            recent.delivery.id,
            waiting.delivery.id,
        }
        assert await counts(store) == {"deliveries": 3, "attempts": 4, "events": 3}
        for gone in [*old_done, old_failed]:
            assert await store.deliveries.get(app_id, gone.delivery.id) is None
            assert await store.events.get(app_id, gone.event.id) is None
        kept = await store.deliveries.get(app_id, retried.delivery.id)
        assert kept is not None and len(kept.attempts) == 2
        assert await store.events.get(app_id, old_event) is not None

    async def test_goes_in_windows_of_the_batch_size(
        self, store: Store, app_id: str, webhook: Webhook
    ) -> None:
        await publish_at(store, app_id, OLD - DAY, 12)
        await attempt_at(store, OLD - DAY, DeliveryStatus.SUCCEEDED, 12)
        await publish_at(store, app_id, OLD, 11)
        await attempt_at(store, OLD, DeliveryStatus.SUCCEEDED, 11)
        steps: list[tuple[str, int, float]] = []

        def progress(step: Step) -> None:
            total = getattr(step.purged, step.phase)
            steps.append((step.phase, total, step.fraction))

        purged = await store.retention.purge(before=CUTOFF, batch=5, progress=progress)

        assert (purged.deliveries, purged.attempts, purged.events) == (23, 23, 23)
        by_phase = {p: [(n, f) for q, n, f in steps if q == p] for p in ("deliveries", "events")}
        # 23 rows in windows of 5: five transactions per phase, none deleting more than 5.
        assert [n for n, _ in by_phase["deliveries"]] == [5, 10, 15, 20, 23]
        assert [n for n, _ in by_phase["events"]] == [5, 10, 15, 20, 23]
        fractions = [f for _, f in by_phase["deliveries"]]
        assert fractions == sorted(fractions) and fractions[0] == 0 < fractions[-1] <= 1
        assert purged.transactions == 10  # attempts went with their deliveries
        assert await counts(store) == {"deliveries": 0, "attempts": 0, "events": 0}

    async def test_a_run_with_nothing_to_purge_reads_only_what_must_stay(
        self, store: Store, app_id: str, webhook: Webhook
    ) -> None:
        await publish_at(store, app_id, NOW - DAY, 20)
        await attempt_at(store, NOW - DAY, DeliveryStatus.SUCCEEDED, 20)
        await publish_at(store, app_id, OLD)  # one old delivery still pending
        first = await store.retention.purge(before=CUTOFF, batch=5)
        again = await store.retention.purge(before=CUTOFF, batch=5)
        assert first.rows == again.rows == 0
        # One window over the old pending delivery, one over its event; none over recent rows.
        assert again.transactions == 2
        assert (await counts(store))["deliveries"] == 21

    async def test_attempts_and_events_of_a_deleted_webhook_go_too(
        self, store: Store, app_id: str, webhook: Webhook
    ) -> None:
        await publish_at(store, app_id, OLD, 2)
        await attempt_at(store, OLD, DeliveryStatus.PENDING, 2)  # to retry, but then...
        assert await store.webhooks.delete(app_id, webhook.id)  # deliveries go with it
        assert await counts(store) == {"deliveries": 0, "attempts": 2, "events": 2}
        purged = await store.retention.purge(before=CUTOFF)
        assert (purged.deliveries, purged.attempts, purged.events) == (0, 2, 2)
        assert await counts(store) == {"deliveries": 0, "attempts": 0, "events": 0}

    async def test_a_batch_goes_with_its_list_and_keeps_its_events_while_owed(
        self, store: Store, app_id: str
    ) -> None:
        queued = await make_webhook(store, app_id, URL, mode="queued")
        kept_events = await publish_at(store, app_id, OLD, 3)
        owed = await store.batches.take(queued.id, now=OLD, before=OLD)
        await attempt_at(store, OLD, DeliveryStatus.FAILED)
        await publish_at(store, app_id, OLD, 2)
        done = await store.batches.take(queued.id, now=OLD, before=OLD)
        await attempt_at(store, OLD, DeliveryStatus.SUCCEEDED)
        assert owed is not None and done is not None
        assert await store.batches.settle([owed.id, done.id], now=OLD) == 2
        # Retried by hand: the batch is owed again, its carried deliveries stay finished.
        assert await store.deliveries.retry(app_id, owed.id, now=NOW - DAY)

        purged = await store.retention.purge(before=CUTOFF)

        # Both batches' carried deliveries, and the finished batch with its events.
        assert (purged.deliveries, purged.events) == (6, 2)
        assert await delivery_ids(store) == {owed.id}
        assert sorted(e.id for e in await store.batches.events(owed.id)) == sorted(kept_events)
        assert await store.batches.events(done.id) == []
        async with store.engines.read.connect() as conn:
            listed = await conn.execute(sa.select(sa.func.count()).select_from(batch_events))
            assert listed.scalar_one() == 3

    async def test_nothing_newer_than_the_cutoff_goes(
        self, store: Store, app_id: str, webhook: Webhook
    ) -> None:
        await publish_at(store, app_id, CUTOFF + 60, 3)
        await attempt_at(store, CUTOFF + 60, DeliveryStatus.SUCCEEDED, 3)
        await publish_at(store, app_id, CUTOFF + 60)  # an event nobody wanted, still recent
        purged = await store.retention.purge(before=CUTOFF)
        assert purged.rows == 0
        assert await counts(store) == {"deliveries": 4, "attempts": 3, "events": 4}


class TestPeriodicPurge:
    async def test_a_worker_process_purges_on_its_interval(
        self, settings: Settings, store: Store, app_id: str, webhook: Webhook
    ) -> None:
        await publish_at(store, app_id, OLD, 3)
        await attempt_at(store, OLD, DeliveryStatus.SUCCEEDED, 3)
        tuned = settings.model_copy(update={"retention_days": 30, "purge_interval": 0.05})
        api_only = await Runtime.start(tuned, worker=False)
        runtime = await Runtime.start(tuned, worker=True)
        try:
            assert api_only.purger is None and runtime.purger is not None

            async def purged() -> bool:
                return await counts(store) == {"deliveries": 0, "attempts": 0, "events": 0}

            await eventually(purged, what="the periodic purge")
            # It keeps running: an old event nobody subscribed to goes at the next run.
            await publish_at(store, app_id, OLD, type_="nobody.listens")
            await eventually(purged, what="the next periodic purge")
        finally:
            await runtime.stop()
            await api_only.stop()
        assert runtime.purger.done()

    async def test_retention_zero_turns_it_off(self, settings: Settings) -> None:
        runtime = await Runtime.start(
            settings.model_copy(update={"retention_days": 0}), worker=True
        )
        try:
            assert runtime.purger is None
        finally:
            await runtime.stop()


class TestPurgeCommand:
    async def test_hookd_purge_deletes_and_summarises(
        self, db_url: str, store: Store, app_id: str, webhook: Webhook, tmp_path: Path
    ) -> None:
        await publish_at(store, app_id, OLD, 7)
        await attempt_at(store, OLD, DeliveryStatus.SUCCEEDED, 7)
        await publish_at(store, app_id, NOW - 5 * DAY, 2)
        await attempt_at(store, NOW - 5 * DAY, DeliveryStatus.SUCCEEDED, 2)
        code, out = await hookd(
            "purge", "--db", db_url, "--days", "10", "--batch", "3", cwd=tmp_path
        )
        assert code == 0, out
        assert "purging what finished before" in out and "(10 days)" in out
        deleted = dict(re.findall(r"│ (\w+) +│ +([\d,]+) │", out))
        assert deleted == {"deliveries": "7", "attempts": "7", "events": "7"}, out
        assert await counts(store) == {"deliveries": 2, "attempts": 2, "events": 2}

    async def test_hookd_purge_refuses_when_retention_is_off(
        self, db_url: str, tmp_path: Path
    ) -> None:
        code, out = await hookd("purge", "--db", db_url, "--days", "0", cwd=tmp_path)
        assert code == 2 and "retention is off" in out


async def hookd(*args: str, cwd: Path) -> tuple[int, str]:
    """Run the hookd command; return its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hookd",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("HOOKD_")},
            "COLUMNS": "120",
        },
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()
