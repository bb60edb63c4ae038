"""Open the database named by a URL, with each backend's needed settings.

SQLite: WAL, and `BEGIN IMMEDIATE` for writing transactions. Without it the
driver starts transactions lazily and two workers can claim the same rows
(measured: 2,500 duplicates in 2,000 rows); with it the write lock is taken
at BEGIN. Writes share one connection so they queue in the pool instead of
spinning on SQLite's busy lock; reads have their own pool (WAL readers never
block). The WAL is checkpointed on a thread of its own, never inside a commit
(store/checkpoints.py).

PostgreSQL: every session ends a transaction left idle for 10 s. hookd's
transactions wait on nothing but the database, so one idle that long belongs
to a frozen or cut-off process; without the limit its row locks (a webhook's
health row, say) would stall every other worker until it woke up. When such a
process wakes, connections whose session was ended are replaced. A process
frozen in the middle of a statement is outside that limit's reach: see
store/sessions.py. hookd's sessions carry application_name `hookd`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hookd.store.checkpoints import Checkpointer

IDLE_IN_TRANSACTION_TIMEOUT = "10s"
BUSY_TIMEOUT_MS = 30_000  # SQLite: how long a writer waits for another's write lock
APPLICATION_NAME = "hookd"  # how hookd's own sessions are told apart (store/sessions.py)


@dataclass(frozen=True)
class Engines:
    """A write engine and a read engine (the same object on PostgreSQL)."""

    write: AsyncEngine
    read: AsyncEngine
    dialect: str
    checkpointer: Checkpointer | None = None  # SQLite files: store/checkpoints.py

    async def dispose(self) -> None:
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.stop)
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()


def async_url(url: str) -> str:
    """Map `sqlite:///…` and `postgresql://…` to their async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+aiosqlite"):
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if parsed.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")


def open_engines(url: str, *, pool_size: int = 10) -> Engines:
    """Create the engines for `url` (creating the SQLite file's folder)."""
    full = async_url(url)
    if full.startswith("sqlite"):
        return _sqlite(full)
    engine = create_async_engine(
        full, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
    )
    _postgres_setup(engine)
    return Engines(write=engine, read=engine, dialect="postgresql")


def _postgres_setup(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # SETs, not startup parameters: pgbouncer refuses unknown startup parameters.
        dbapi_connection.run_async(
            lambda conn: conn.execute(
                f"SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_TIMEOUT}';"
                f" SET application_name = '{APPLICATION_NAME}'"
            )
        )

    @event.listens_for(engine.sync_engine, "handle_error")
    def _broken(context: ExceptionContext) -> None:
        # Woken after the server ended its session, asyncpg can be left mid-operation
        # ("cannot switch to state …"): the connection is unusable, so have it replaced.
        internal = getattr(context.dialect.dbapi, "InternalClientError", None)
        if internal is not None and isinstance(context.original_exception, internal):
            context.is_disconnect = True


def _sqlite(url: str) -> Engines:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    write = create_async_engine(url, pool_size=1, max_overflow=0)
    # A fixed pool: overflow connections were opened and closed per request under load.
    read = create_async_engine(url, pool_size=8, max_overflow=0)
    _sqlite_setup(write, immediate=True)
    _sqlite_setup(read, immediate=False)
    checkpointer = None
    if database and database != ":memory:":
        checkpointer = Checkpointer(database)
        checkpointer.start()
    return Engines(write=write, read=read, dialect="sqlite", checkpointer=checkpointer)


# Every SQLite connection's settings; write connections add WRITER_PRAGMAS.
PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    f"busy_timeout={BUSY_TIMEOUT_MS}",
    "foreign_keys=ON",
    "cache_size=-65536",
)
# Checkpoints run on the Checkpointer's thread, never inside a commit.
WRITER_PRAGMAS = (*PRAGMAS, "wal_autocheckpoint=0")


def _sqlite_setup(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in WRITER_PRAGMAS if immediate else PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
