"""Reading a benchmark's database after the run, and writing a large backlog fast.

Reads go through hookd's own store engines. The backlog of scenario 5 is
written with the sqlite3 module in one transaction, into the tables and
columns that hookd's schema (`hookd.store.tables`) declares, with ids made by
`hookd.ids`: a million rows through the API would take longer than the
benchmark itself, and the store has no bulk path for deliveries.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import sqlalchemy as sa

from benchmarks.api import event_data
from hookd import ids
from hookd.store import Store
from hookd.store.tables import deliveries, events


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


async def status_counts(url: str) -> dict[str, int]:
    """Return how many deliveries are in each status, and how many attempts were logged."""
    store = await Store.open(url, migrate=False)
    try:
        async with store.engines.read.connect() as conn:
            found = await conn.execute(
                sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
            )
            counts = {str(status): int(n) for status, n in found}
            attempts = await conn.execute(sa.text("SELECT count(*) FROM attempts"))
            counts["attempts"] = int(attempts.scalar_one())
    finally:
        await store.close()
    return counts


def describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))


def insert_backlog(
    path: Path, app_id: str, webhook_ids: list[str], event_types: list[str], count: int
) -> float:
    """Insert `count` events, each owed to one webhook (round-robin), all due now.

    Returns the seconds it took.
    """
    started = time.perf_counter()
    now = time.time()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN IMMEDIATE")
        for chunk in _chunks(count, 50_000):
            event_rows: list[dict[str, object]] = []
            delivery_rows: list[dict[str, object]] = []
            for i in chunk:
                event_id = ids.new_id("evt", now)
                event_rows.append(
                    dict(
                        id=event_id,
                        app_id=app_id,
                        type=event_types[i % len(event_types)],
                        data=orjson.dumps(event_data(i)).decode(),
                        timestamp=now,
                        live=True,
                        idempotency_key=None,
                        created_at=now,
                    )
                )
                delivery_rows.append(
                    dict(
                        id=ids.new_id("dlv", now),
                        app_id=app_id,
                        webhook_id=webhook_ids[i % len(webhook_ids)],
                        event_id=event_id,
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        claim_token=None,
                        last_error=None,
                        last_status_code=None,
                        created_at=now,
                        updated_at=now,
                    )
                )
            _insert(conn, events, event_rows)
            _insert(conn, deliveries, delivery_rows)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.perf_counter() - started


def default_app_id(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT id FROM apps WHERE uid = 'default'").fetchone()
    finally:
        conn.close()
    return str(row[0])


def _insert(conn: sqlite3.Connection, table: sa.Table, rows: list[dict[str, object]]) -> None:
    """Insert rows naming only the columns given; the schema's defaults fill the rest."""
    names = [c.name for c in table.columns if c.name in rows[0]]
    unknown = set(rows[0]) - set(names)
    if unknown:
        raise KeyError(f"{table.name} has no columns {sorted(unknown)}")
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    conn.executemany(sql, [tuple(row[n] for n in names) for row in rows])


def _chunks(count: int, size: int) -> Iterator[range]:
    for start in range(0, count, size):
        yield range(start, min(start + size, count))
