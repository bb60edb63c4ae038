"""SQLite writes: the WAL is checkpointed off the commit path, and a write lock
held elsewhere is waited out in small steps, within the usual limit."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hookd.store import Store, direct
from tests.conftest import opened
from tests.support.polling import eventually_sync


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    async with opened(f"sqlite:///{tmp_path / 'hookd.db'}") as store:
        yield store


def database(store: Store) -> str:
    name = store.engines.write.url.database
    assert name is not None
    return name


@contextmanager
def write_lock_held(path: str, seconds: float) -> Iterator[threading.Event]:
    """Hold the write lock from another connection for `seconds`; the event says it is held."""
    held = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(5), "could not take the write lock"
        yield held
    finally:
        thread.join()


def insert(tx: direct.Tx) -> int:
    tx.many("INSERT INTO kv_probe (v) VALUES (?)", [(i,) for i in range(500)])
    return tx.count("DELETE FROM kv_probe WHERE v < 0")


async def make_probe_table(store: Store) -> None:
    await direct.transaction(
        store.engines.write,
        lambda tx: tx.count("CREATE TABLE IF NOT EXISTS kv_probe (v INTEGER)"),
    )


class TestCheckpoints:
    async def test_commits_leave_checkpoints_to_the_checkpointer(self, sqlite_store: Store) -> None:
        async with sqlite_store.engines.write.connect() as conn:
            raw = await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")
            assert raw.scalar() == 0
        checkpointer = sqlite_store.engines.checkpointer
        assert checkpointer is not None
        await make_probe_table(sqlite_store)
        for _ in range(20):  # about 2,000 pages of WAL: past SQLite's own threshold
            await direct.transaction(sqlite_store.engines.write, insert)

        def caught_up() -> bool:
            conn = sqlite3.connect(database(sqlite_store), isolation_level=None)
            try:
                busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                conn.close()
            return checkpointer.checkpoints > 0 and busy == 0 and frames == done

        eventually_sync(caught_up, what="the WAL to be checkpointed")

    async def test_closing_the_store_stops_its_checkpointer(self, tmp_path: Path) -> None:
        store = await Store.open(f"sqlite:///{tmp_path / 'hookd.db'}")
        checkpointer = store.engines.checkpointer
        assert checkpointer is not None
        assert checkpointer.running
        await store.close()
        assert not checkpointer.running


class TestWaitingForTheWriteLock:
    async def test_a_lock_held_elsewhere_is_waited_out(self, sqlite_store: Store) -> None:
        await make_probe_table(sqlite_store)
        with write_lock_held(database(sqlite_store), 0.3):
            started = time.monotonic()
            assert await direct.transaction(sqlite_store.engines.write, insert) == 0
            waited = time.monotonic() - started
        assert waited >= 0.2  # it did wait for the other writer, and then wrote
        async with sqlite_store.engines.write.connect() as conn:
            # SQLite's own limit is back for every other statement.
            raw = await conn.exec_driver_sql("PRAGMA busy_timeout")
            assert raw.scalar() == 30_000

    async def test_past_the_limit_it_gives_up(
        self, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await make_probe_table(sqlite_store)
        monkeypatch.setattr(direct, "BUSY_TIMEOUT_MS", 100)
        locked = pytest.raises(sqlite3.OperationalError, match="database is locked")
        with write_lock_held(database(sqlite_store), 1.0), locked:
            await direct.transaction(sqlite_store.engines.write, insert)
        # Nothing half-done: the next transaction runs normally.
        assert await direct.transaction(sqlite_store.engines.write, insert) == 0
