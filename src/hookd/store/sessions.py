"""Stalled sessions (PostgreSQL): end hookd sessions stuck mid-statement on a frozen client.

`idle_in_transaction_session_timeout` (store/engine.py) ends a transaction
whose process froze between statements. It does not cover a process that froze
in the middle of one: asyncpg prepares a statement with Parse, Describe and
Flush and sends Bind, Execute and Sync only once the answer is read, so between
the two the server counts the session as `active`, waiting on its client
(`ClientRead`), and no timeout of PostgreSQL's applies. Seen in the scale-out
test: a worker frozen there kept the row locks of its claim (`FOR UPDATE`)
for good, and the other workers' `SKIP LOCKED` claims passed those deliveries
over forever.

So every worker, now and then, ends hookd's own sessions (application_name
`hookd`) that hold a transaction id and have waited on their client in the
middle of a statement for longer than `older_than` seconds. A live hookd
process is never there for more than milliseconds. The frozen process, once
it wakes, finds its connection closed, rolls back and carries on (its leases
have run out by then; what it still records cannot undo another's outcome).
Ending a session of the same role needs no special privilege.
"""

from __future__ import annotations

import sqlalchemy as sa

from hookd.store.engine import APPLICATION_NAME, Engines

__all__ = ["SessionRepository"]

_END_STALLED = sa.text(
    """
    SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE datname = current_database()
      AND application_name = :name
      AND pid <> pg_backend_pid()
      AND state = 'active'
      AND wait_event = 'ClientRead'
      AND backend_xid IS NOT NULL
      AND state_change < now() - make_interval(secs => :older_than)
    """
)


class SessionRepository:
    def __init__(self, engines: Engines) -> None:
        self._db = engines

    async def end_stalled(self, *, older_than: float) -> int:
        """End hookd sessions stalled mid-statement for `older_than` s; return how many.

        SQLite has no sessions to end (its writers hold one lock, in one process).
        """
        if self._db.dialect != "postgresql":
            return 0
        async with self._db.write.connect() as conn:
            ended = await conn.scalar(
                _END_STALLED, {"name": APPLICATION_NAME, "older_than": older_than}
            )
            await conn.commit()
        return int(ended or 0)
