"""Run a hot transaction's statements in one go: driver SQL, tuples in, tuples out.

Each statement SQLAlchemy's async engine runs costs a greenlet switch, a
round trip to the driver (on SQLite a hop to aiosqlite's thread and back,
which wakes the event loop) and per-row parameter processing. For the few
statements run per delivery — claiming, recording attempts, publishing — that
overhead was most of hookd's CPU (measured: 76 µs per claimed row and 79 µs per
recorded attempt against 9 µs for the same SQL on plain sqlite3).

`run(conn, body)` runs `body(tx)`, a plain function, inside `conn`'s open
transaction:

    SQLite       in the connection's own thread, all statements in one hop
    PostgreSQL   through `run_sync` (asyncpg is async; each statement still
                 awaits the server, without the compile and parameter steps)

`transaction(engine, body)` runs `body` in a transaction of its own; on SQLite
BEGIN IMMEDIATE, the body and COMMIT are that same one hop, so the write lock
(and the one write connection) is held for no event-loop turn at all. A write
lock held by another process is waited for in steps of BUSY_POLL, not with
SQLite's growing sleeps.

SQL is written once with `?` placeholders; PostgreSQL gets `$1, $2, …`.
An insert of many rows (events, deliveries, attempts, notifications) is a `Bulk`: executed
per row on SQLite, and once over one array per column (`unnest`) on
PostgreSQL, where it costs the server 7-10 µs less per row than a prepared
statement executed per row (measured: deliveries at 17.9 against 28.4 µs of
server CPU per row, attempts at 13.0 against 20.7).
A list of values is matched with `tx.among(values)`: `IN (?, ?, …)` on SQLite,
`= ANY(?)` with one array on PostgreSQL, so that each statement has one text
whatever the list's length and is prepared once per connection (asyncpg
prepares every new text in a round trip of its own, and a process frozen in
that round trip keeps its locks: store/sessions.py).
Bodies must not touch the event loop: they run on another thread on SQLite.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hookd.store.engine import BUSY_TIMEOUT_MS

__all__ = [
    "Bulk",
    "Tx",
    "at_once",
    "bulk_insert",
    "columns",
    "marks",
    "marks_in",
    "run",
    "transaction",
]

T = TypeVar("T")
Params = Sequence[Any]


class Tx(Protocol):
    """The statements a body may run; all of them inside the caller's transaction."""

    dialect: str

    def rows(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Run a statement and return its rows."""
        ...

    def many(self, sql: str, seq: Sequence[Params]) -> None:
        """Run a statement once per parameter tuple."""
        ...

    def each(self, bulk: Bulk, seq: Sequence[Params]) -> None:
        """Run a bulk statement for these rows (one tuple per row)."""
        ...

    def count(self, sql: str, params: Params = ()) -> int:
        """Run a statement and return how many rows it changed."""
        ...

    def among(self, values: Sequence[Any]) -> tuple[str, Params]:
        """Return SQL matching a column to `values` (` IN (…)`, ` = ANY(?)`) and its params."""
        ...


@dataclass(frozen=True, slots=True)
class Bulk:
    """One statement for many rows: `sqlite` runs per row, `postgresql` once over arrays.

    Inserts only: an UPDATE joined to arrays is planned as a join, and a plan
    cached while the table was small (a hash join over a sequential scan) stays
    when it has grown; updates keep one indexed statement per row.
    """

    sqlite: str
    postgresql: str


def bulk_insert(table: sa.Table, columns: Sequence[str] | None = None) -> Bulk:
    """Insert rows of these columns' values (default: all of the table's, in its order)."""
    columns = [c.name for c in table.c] if columns is None else columns
    names = ", ".join(columns)
    arrays = ", ".join(f"?::{_array_type(table.c[c])}" for c in columns)
    return Bulk(
        f"INSERT INTO {table.name} ({names}) VALUES ({marks(len(columns))})",  # noqa: S608
        f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})",  # noqa: S608
    )


def _array_type(column: sa.Column[Any]) -> str:
    """Return the PostgreSQL array type a column's values travel in."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return "boolean[]"
    if isinstance(kind, sa.Integer):
        return "bigint[]"
    if isinstance(kind, sa.Float):
        return "float8[]"
    if isinstance(kind, sa.String):
        return "text[]"
    raise TypeError(f"no array type for {column.name} ({kind})")


def columns(rows: Sequence[Params], width: int) -> list[list[Any]]:
    """Turn rows into one list per column, as a `Bulk` takes them on PostgreSQL.

    `width`: how many (empty) columns no rows make.
    """
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def marks(n: int) -> str:
    """Return `?, ?, …` for an IN list of `n` values."""
    return ", ".join("?" * n)


def marks_in(values: Sequence[Any]) -> str:
    """Return `(?, ?, …)` for an IN list of these values."""
    return f"({marks(len(values))})"


async def run(conn: AsyncConnection, body: Callable[[Tx], T]) -> T:
    """Run `body` on `conn`'s current transaction, in one hop where the driver allows."""
    if conn.dialect.name == "sqlite":
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection  # aiosqlite.Connection
        assert driver is not None
        # aiosqlite runs queued functions on the thread that owns the sqlite3
        # connection; `_execute` is how its own methods queue theirs.
        result: T = await driver._execute(_in_thread, driver._conn, body)
        return result
    return await conn.run_sync(lambda sync: body(_SyncTx(sync)))


# PostgreSQL's deadlock and serialization failures: nothing was written, try
# again. And a unique key taken by a transaction that committed meanwhile (an
# idempotency key published twice at once): run again, the body sees its row.
_TRANSIENT = frozenset({"40P01", "40001", "23505"})
TRIES = 3


async def transaction(engine: AsyncEngine, body: Callable[[Tx], T]) -> T:
    """Run `body` in a transaction of its own on `engine`: committed if it returns.

    On PostgreSQL a transaction ended by a deadlock, a serialization failure or
    a unique violation is run again (up to TRIES times in all): bodies are
    plain functions of their inputs, so running one again is safe.
    """
    if engine.dialect.name != "sqlite":
        for attempt in range(1, TRIES + 1):
            try:
                async with engine.begin() as conn:
                    return await run(conn, body)
            except DBAPIError as exc:
                if attempt == TRIES or getattr(exc.orig, "sqlstate", None) not in _TRANSIENT:
                    raise
        raise AssertionError("unreachable")
    # The connection is in autocommit mode (store/engine.py): SQLAlchemy sees no
    # transaction of its own here, and its rollback on release finds none open.
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        result: T = await driver._execute(_whole, driver._conn, body)
        return result


async def at_once(engine: AsyncEngine, sql: str, params: Params) -> list[tuple[Any, ...]]:
    """PostgreSQL: run one statement as a transaction of its own, in one round trip.

    No BEGIN and no COMMIT: in autocommit the server commits the statement when
    it ends, all of it or (on an error) none of it.
    """
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        result = await auto.exec_driver_sql(_dollar(sql), tuple(params))
        return [tuple(r) for r in result.fetchall()]


def _in_thread(connection: Any, body: Callable[[Tx], T]) -> T:
    return body(_SqliteTx(connection))


def _whole(connection: Any, body: Callable[[Tx], T]) -> T:
    _begin_immediate(connection)
    try:
        result = body(_SqliteTx(connection))
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return result


# SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 … up to 100 ms between
# tries: a writer in another process (HOOKD_DELIVERY_PROCESSES) waiting out a
# 1 ms transaction slept 33-54 ms (measured in the latency benchmark). Hot
# transactions try again every BUSY_POLL seconds instead, within the same limit.
BUSY_POLL = 0.0005


def _begin_immediate(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
            time.sleep(BUSY_POLL)
    finally:
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


class _SqliteTx:
    dialect = "sqlite"

    def __init__(self, connection: Any) -> None:
        self._conn = connection

    def rows(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()  # type: ignore[no-any-return]

    def many(self, sql: str, seq: Sequence[Params]) -> None:
        if seq:
            self._conn.executemany(sql, seq)

    def each(self, bulk: Bulk, seq: Sequence[Params]) -> None:
        self.many(bulk.sqlite, seq)

    def count(self, sql: str, params: Params = ()) -> int:
        return int(self._conn.execute(sql, params).rowcount)

    def among(self, values: Sequence[Any]) -> tuple[str, Params]:
        return f" IN {marks_in(values)}", tuple(values)


class _SyncTx:
    dialect = "postgresql"

    def __init__(self, sync: Connection) -> None:
        self._conn = sync

    def rows(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        result = self._conn.exec_driver_sql(_dollar(sql), tuple(params))
        return [tuple(r) for r in result.fetchall()] if result.returns_rows else []

    def many(self, sql: str, seq: Sequence[Params]) -> None:
        if seq:
            self._conn.exec_driver_sql(_dollar(sql), [tuple(p) for p in seq])

    def each(self, bulk: Bulk, seq: Sequence[Params]) -> None:
        if seq:
            self._conn.exec_driver_sql(_dollar(bulk.postgresql), tuple(columns(seq, 0)))

    def count(self, sql: str, params: Params = ()) -> int:
        return int(self._conn.exec_driver_sql(_dollar(sql), tuple(params)).rowcount)

    def among(self, values: Sequence[Any]) -> tuple[str, Params]:
        return " = ANY(?)", (list(values),)


_MARK = re.compile(r"\?")


@lru_cache(maxsize=256)
def _dollar(sql: str) -> str:
    """Number the placeholders for asyncpg: `?` → `$1`, `$2`, …"""
    counter = iter(range(1, 1 << 30))
    return _MARK.sub(lambda _: f"${next(counter)}", sql)
