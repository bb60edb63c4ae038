"""Deferred fan-out: make the deliveries a wide publish owes, in chunks, after it commits.

    publish ──(one transaction: event + fanouts row naming the webhooks)──▶ store
    expand  ──(one transaction per chunk of up to CHUNK webhooks)──▶ deliveries

Each chunk's transaction inserts the deliveries and takes their webhooks off
the `fanouts` row (deleting it with the last ones), so a chunk is made exactly
once, whoever runs it and whenever a process stops. The oldest fan-out goes
first. What a webhook gets is decided when its delivery is made, as if it had
been made at publish time and the change since applied to it:

    deleted meanwhile     no delivery
    now queued            status queued (waits for a batch flush)
    now disabled          pending, parked until the webhook is enabled again

On PostgreSQL the chunk's webhooks are read `FOR SHARE` (in id order, as
settling locks them), so none is deleted, disabled or enabled before the
deliveries are committed; the `fanouts` row is taken `FOR UPDATE SKIP LOCKED`,
so processes expanding at once take different fan-outs.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import sqlalchemy as sa

from hookd.domain.models import PARKED_AT
from hookd.store import direct
from hookd.store.engine import Engines
from hookd.store.events import PENDING, QUEUED, Owed, insert_deliveries, line_of
from hookd.store.tables import fanouts

# Webhooks one transaction makes deliveries for at most (~9 µs each on SQLite):
# the write lock is held ~5 ms at a time and workers claim between chunks.
CHUNK = 500

_OLDEST = "SELECT event_id, app_id, webhooks, created_at FROM fanouts ORDER BY created_at, event_id"


class FanoutRepository:
    def __init__(self, engines: Engines, on_commit: Callable[[], None]) -> None:
        self._db = engines
        self._on_commit = on_commit

    async def expand(self, most: int = CHUNK) -> int:
        """Make deliveries for up to `most` owed webhooks, oldest fan-out first.

        Returns how many owed webhooks were taken (0: nothing is owed).
        """

        def body(tx: direct.Tx) -> int:
            return _expand(tx, most)

        taken = await direct.transaction(self._db.write, body)
        if taken:
            self._on_commit()
        return taken

    async def owed(self) -> int:
        """Return how many fan-outs wait to be expanded."""

        async with self._db.read.connect() as conn:
            return int(
                (await conn.execute(sa.select(sa.func.count()).select_from(fanouts))).scalar_one()
            )


def _expand(tx: direct.Tx, most: int) -> int:
    postgres = tx.dialect == "postgresql"
    taken = 0
    while taken < most:
        found = tx.rows(_OLDEST + " LIMIT 1" + (" FOR UPDATE SKIP LOCKED" if postgres else ""))
        if not found:
            break
        [(event_id, app_id, webhooks_json, created_at)] = found
        webhook_ids: list[str] = orjson.loads(webhooks_json)
        chunk, rest = webhook_ids[: most - taken], webhook_ids[most - taken :]
        among, params = tx.among(sorted(chunk))
        share = " ORDER BY id FOR SHARE" if postgres else ""
        state = {
            webhook_id: (enabled, mode, (key or "") if ordering == "fifo" else None)
            for webhook_id, enabled, mode, ordering, key in tx.rows(
                "SELECT id, enabled, mode, ordering, ordering_key FROM webhooks"  # noqa: S608
                f" WHERE id{among}{share}",
                params,
            )
        }
        data_json: str | None = None
        owed: list[Owed] = []
        for webhook_id in chunk:
            if webhook_id not in state:
                continue  # deleted since the publish
            enabled, mode, key = state[webhook_id]
            if key and data_json is None:
                [(data_json,)] = tx.rows("SELECT data FROM events WHERE id = ?", (event_id,))
            line = line_of(key, data_json or "{}")
            if mode == "queued":
                owed.append((webhook_id, event_id, QUEUED, created_at, line))
            else:
                due = created_at if enabled else PARKED_AT
                owed.append((webhook_id, event_id, PENDING, due, line))
        insert_deliveries(tx, app_id, owed, created_at)
        if rest:
            tx.count(
                "UPDATE fanouts SET webhooks = ? WHERE event_id = ?",
                (orjson.dumps(rest).decode(), event_id),
            )
        else:
            tx.count("DELETE FROM fanouts WHERE event_id = ?", (event_id,))
        taken += len(chunk)
    return taken
