"""PostgreSQL plans: a claim's lookups are planned for the tables as they are now.

A prepared statement's plan, cached while the events table held a few rows, is
a sequential scan; it stayed cached as the table grew until the next ANALYZE
(the latency benchmark on a fresh database: 3.5-4.5 ms per claim lookup at
36,000 rows). store/deliveries.py plans the claim's lookups on every claim.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from hookd.domain.models import DeliveryStatus
from hookd.store import Store
from tests.support.factories import make_webhook, publish, record_for

pytestmark = pytest.mark.postgres

# More claims than the five custom plans PostgreSQL makes before it may cache one.
CLAIMS = 8


async def test_claim_lookups_are_never_served_by_a_cached_plan(pg_store: Store) -> None:
    app = await pg_store.apps.ensure_default(time.time())
    await make_webhook(pg_store, app.id, "https://example.com/hook")
    for _ in range(CLAIMS):
        await publish(pg_store, app.id)
        [claimed] = await pg_store.deliveries.claim(10, lease_seconds=60, now=time.time())
        await pg_store.deliveries.record(
            [record_for(claimed, "succeeded", DeliveryStatus.SUCCEEDED)], now=time.time()
        )

    # One after another, the claims ran on the pool's one connection: its statements.
    async with pg_store.engines.write.connect() as conn:
        found = (
            await conn.execute(
                sa.text(
                    "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
                    " WHERE statement LIKE '%= ANY($%'"
                )
            )
        ).all()
    lookups = {row.statement.split(" WHERE ")[0]: row for row in found}
    events = next(row for text, row in lookups.items() if text.endswith("FROM events"))
    update = next(row for text, row in lookups.items() if text.startswith("UPDATE deliveries"))
    assert (events.generic_plans, events.custom_plans) == (0, CLAIMS)
    assert (update.generic_plans, update.custom_plans) == (0, CLAIMS)
