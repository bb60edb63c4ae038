"""SQLite writes: the WAL is checkpointed off the commit path, and a write lock
held elsewhere is waited out in small steps, within the usual limit."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hookd.store import Store, direct
from hookd.store.checkpoints import Checkpointer
from hookd.store.engine import WRITER_PRAGMAS
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


FRAME = 4096 + 24  # a WAL frame: one page and its header


def wal_frames(path: str) -> int:
    """How far the WAL file ever reached, in frames (SQLite reuses it from the start)."""
    return (Path(f"{path}-wal").stat().st_size - 32) // FRAME


def hookd_connection(path: str) -> sqlite3.Connection:
    """A connection set up like hookd's writer: WAL, no checkpoints of its own."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in WRITER_PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    return conn


def write_steadily(conn: sqlite3.Connection, transactions: int, pause: float = 0.001) -> None:
    """Commit about every millisecond, so that some commit always lands during a checkpoint."""
    blob = b"x" * 2000
    for _ in range(transactions):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO probe (b) VALUES (?)", [(blob,)] * 20)
        conn.execute("COMMIT")
        time.sleep(pause)  # pacing the load, not waiting for anything


@contextmanager
def checkpoint_lock_held(path: str) -> Iterator[None]:
    """Hold SQLite's checkpoint lock from another process, as its own checkpoint would.

    The lock is byte 121 of the `-shm` file (120 + WAL_CKPT_LOCK, in sqlite3's
    os_unix.c and wal.c); fcntl locks only exclude other processes.
    """
    script = (
        "import fcntl, os, sys\n"
        f"fd = os.open({path + '-shm'!r}, os.O_RDWR)\n"
        "fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 121)\n"
        "print('held', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "held"
            yield
        finally:
            holder.stdin.write("\n")
            holder.stdin.flush()


@pytest.fixture
def probe_db(tmp_path: Path) -> Iterator[tuple[str, sqlite3.Connection]]:
    """A database and its writer, kept open: the last connection to close removes the WAL."""
    path = str(tmp_path / "wal.db")
    conn = hookd_connection(path)
    conn.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY, b BLOB)")
    yield path, conn
    conn.close()


@contextmanager
def restart_given_up(
    path: str, writer: sqlite3.Connection
) -> Iterator[tuple[sqlite3.Connection, Checkpointer]]:
    """A reader inside a 400-row WAL, and a Checkpointer whose restart gave up on it."""
    reader = sqlite3.connect(path, isolation_level=None)
    write_steadily(writer, 20, pause=0)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM probe").fetchone() == (400,)
    checkpointer = Checkpointer(path, interval=0.01, restart_frames=1)
    checkpointer.start()
    try:
        eventually_sync(lambda: checkpointer.gave_up > 0, what="a restart to give up")
        yield reader, checkpointer
    finally:
        checkpointer.stop()
        reader.close()


def more_checkpoints(checkpointer: Checkpointer, n: int) -> None:
    target = checkpointer.checkpoints + n
    eventually_sync(lambda: checkpointer.checkpoints >= target, what=f"{n} more checkpoints")


class TestTheWalStaysBounded:
    def test_sustained_writes_start_the_wal_over(
        self, probe_db: tuple[str, sqlite3.Connection]
    ) -> None:
        path, writer = probe_db
        checkpointer = Checkpointer(path, interval=0.1, restart_frames=256)
        checkpointer.start()
        try:
            write_steadily(writer, 1_500)  # about 18,600 frames of WAL in all
        finally:
            checkpointer.stop()
        assert checkpointer.restarts > 0
        # Without restarts the file holds every frame written: 18,639 when measured.
        # With them it reached 1,100-1,200 frames.
        assert wal_frames(path) < 5_000
        assert writer.execute("SELECT count(*) FROM probe").fetchone() == (30_000,)

    def test_a_reader_in_the_wal_postpones_the_restart_only(
        self, probe_db: tuple[str, sqlite3.Connection]
    ) -> None:
        path, writer = probe_db
        with restart_given_up(path, writer) as (reader, checkpointer):
            gave_up = checkpointer.gave_up
            more_checkpoints(checkpointer, 10)
            # Until the WAL grows, a long read costs writers no further waits.
            assert checkpointer.gave_up == gave_up
            started = time.monotonic()
            write_steadily(writer, 20, pause=0)  # writers are not held back for long
            assert time.monotonic() - started < 5
            eventually_sync(lambda: checkpointer.gave_up > gave_up, what="another try")
            assert checkpointer.restarts == 0  # the reader still sees the old WAL
            reader.execute("COMMIT")
            write_steadily(writer, 5, pause=0)
            eventually_sync(lambda: checkpointer.restarts > 0, what="a restart")
        assert writer.execute("SELECT count(*) FROM probe").fetchone() == (900,)

    def test_another_process_checkpointing_keeps_the_back_off(
        self, probe_db: tuple[str, sqlite3.Connection]
    ) -> None:
        path, writer = probe_db
        with restart_given_up(path, writer) as (_reader, checkpointer):
            gave_up = checkpointer.gave_up
            with checkpoint_lock_held(path):  # its checkpoints answer busy, -1 frames
                more_checkpoints(checkpointer, 5)
            more_checkpoints(checkpointer, 10)
            # The WAL has not grown: still no new try to hold writers back for.
            assert checkpointer.gave_up == gave_up
            assert checkpointer.restarts == 0


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
