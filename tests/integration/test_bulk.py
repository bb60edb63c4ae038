"""Bulk inserts (store/direct.py): per row on SQLite, over column arrays on PostgreSQL."""

from __future__ import annotations

import time

import pytest

from hookd.store import Store, direct
from hookd.store.tables import events

# Text that an array literal or a per-element encoder could get wrong.
AWKWARD = [
    "plain",
    "a,b",
    '{"x": [1, 2]}',
    'quote " and \\ back',
    "NULL",
    "",
    "é ✓ \n\t",
    "x" * 5000,
]

_EVENT_COLUMNS = (
    "id",
    "app_id",
    "type",
    "data",
    "timestamp",
    "live",
    "idempotency_key",
    "created_at",
)
_INSERT = direct.bulk_insert(events, _EVENT_COLUMNS)


@pytest.fixture
async def app_id(store: Store) -> str:
    return (await store.apps.ensure_default(time.time())).id


async def _read(store: Store) -> dict[str, tuple[object, ...]]:
    async with store.engines.read.connect() as conn:
        found = await direct.run(
            conn,
            lambda tx: tx.rows(f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events ORDER BY id"),
        )
    return {row[0]: tuple(row) for row in found}


async def test_rows_arrive_value_for_value(store: Store, app_id: str) -> None:
    rows = [
        (
            f"evt_{i:03d}",
            app_id,
            f"t.{i}",
            text,
            1700000000.25 + i,
            i % 2 == 0,
            None if i % 3 else f"k{i}",
            12.5,
        )
        for i, text in enumerate(AWKWARD)
    ]
    await direct.transaction(store.engines.write, lambda tx: tx.each(_INSERT, rows))
    assert await _read(store) == {row[0]: row for row in rows}


async def test_no_rows_is_no_statement(store: Store) -> None:
    await direct.transaction(store.engines.write, lambda tx: tx.each(_INSERT, []))
    assert await _read(store) == {}


def test_postgresql_statement_is_one_over_arrays() -> None:
    assert _INSERT.sqlite.endswith("VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    assert "unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::float8[], ?::boolean[]" in (
        _INSERT.postgresql
    )
