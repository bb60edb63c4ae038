"""A process frozen in the middle of a statement must not hold its row locks for good.

asyncpg prepares with Parse/Describe/Flush and syncs only when it executes, so
a client stopped between the two leaves its session `active` and waiting on
the client, where no PostgreSQL timeout reaches. These tests put a session in
exactly that state with `prepare()` and check what hookd ends, and that a
worker does so by itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from hookd.config import Settings
from hookd.runtime import Runtime
from hookd.store import Store
from hookd.store.engine import APPLICATION_NAME
from tests.support.polling import eventually

pytestmark = pytest.mark.postgres


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@asynccontextmanager
async def stalled(url: str, *, name: str, lock: bool = True) -> AsyncIterator[asyncpg.Connection]:
    """A session that locked the default app's row (`lock`), then froze mid-statement."""
    conn = await asyncpg.connect(plain(url), server_settings={"application_name": name})
    try:
        await conn.execute("BEGIN")
        if lock:
            await conn.fetch("SELECT id FROM apps WHERE uid = 'default' FOR UPDATE")
        await conn.prepare("SELECT count(*) FROM webhooks")  # Parse, Describe, Flush: no Sync
        yield conn
    finally:
        conn.terminate()


async def stalled_now(url: str, name: str) -> int:
    """Count the sessions of application `name` waiting on their client mid-statement."""
    conn = await asyncpg.connect(plain(url))
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
            " AND state = 'active' AND wait_event = 'ClientRead'",
            name,
        )
        return int(found)
    finally:
        await conn.close()


async def row_is_free(url: str) -> bool:
    """Tell whether another session can lock the default app's row right now."""
    conn = await asyncpg.connect(plain(url))
    try:
        async with conn.transaction():
            await conn.fetch("SELECT id FROM apps WHERE uid = 'default' FOR UPDATE NOWAIT")
        return True
    except asyncpg.LockNotAvailableError:
        return False
    finally:
        await conn.close()


class TestEndStalled:
    async def test_a_hookd_session_stalled_holding_locks_is_ended(
        self, pg_url: str, pg_store: Store
    ) -> None:
        async with stalled(pg_url, name=APPLICATION_NAME) as frozen:
            assert await stalled_now(pg_url, APPLICATION_NAME) == 1
            assert not await row_is_free(pg_url)
            # Not before it has been stalled for as long as allowed.
            assert await pg_store.sessions.end_stalled(older_than=3600) == 0

            async def ended_one() -> bool:
                return await pg_store.sessions.end_stalled(older_than=0.2) == 1

            await eventually(ended_one, timeout=10, what="the stalled session to be ended")
            # pg_terminate_backend signals; the session lets go as it exits.
            await eventually(lambda: row_is_free(pg_url), timeout=10, what="the lock to go")
            with pytest.raises(asyncpg.InterfaceError, match="closed"):
                await frozen.fetch("SELECT 1")

    async def test_other_applications_and_sessions_holding_nothing_are_left_alone(
        self, pg_url: str, pg_store: Store
    ) -> None:
        async with (
            stalled(pg_url, name="someone-else"),
            stalled(pg_url, name=APPLICATION_NAME, lock=False),
        ):
            # Stalled for longer than 0 s: only the filters may spare them.
            assert await pg_store.sessions.end_stalled(older_than=0) == 0
            assert await stalled_now(pg_url, "someone-else") == 1
            assert await stalled_now(pg_url, APPLICATION_NAME) == 1

    async def test_on_sqlite_there_is_nothing_to_end(self, tmp_path: object) -> None:
        store = await Store.open(f"sqlite:///{tmp_path}/hookd.db")
        try:
            assert await store.sessions.end_stalled(older_than=0) == 0
        finally:
            await store.close()


async def test_a_worker_ends_stalled_sessions_by_itself(pg_url: str, pg_store: Store) -> None:
    settings = Settings(db=pg_url, dev=True, stalled_session_seconds=1)
    runtime = await Runtime.start(settings, worker=True)
    try:
        async with stalled(pg_url, name=APPLICATION_NAME):
            assert not await row_is_free(pg_url)
            await eventually(
                lambda: row_is_free(pg_url), timeout=10, what="the worker to end the session"
            )
    finally:
        await runtime.stop()
