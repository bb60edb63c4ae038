"""Event types: the catalogue of what an app publishes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hookd.domain.models import EventType
from hookd.store import rows
from hookd.store.engine import Engines
from hookd.store.tables import event_types

_COLUMNS = {"group": "group_name", "description": "description", "sample": "sample"}


class EventTypeRepository:
    def __init__(self, engines: Engines) -> None:
        self._db = engines

    async def create(self, et: EventType) -> None:
        """Insert an event type; raises IntegrityError when the name is taken."""
        async with self._db.write.begin() as conn:
            await conn.execute(
                event_types.insert().values(
                    app_id=et.app_id,
                    name=et.name,
                    group_name=et.group,
                    description=et.description,
                    sample=orjson.dumps(et.sample).decode(),
                    created_at=et.created_at,
                    updated_at=et.updated_at,
                )
            )

    async def get(self, app_id: str, name: str) -> EventType | None:
        query = sa.select(event_types).where(
            event_types.c.app_id == app_id, event_types.c.name == name
        )
        async with self._db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        return rows.event_type(row) if row else None

    async def all(self, app_id: str) -> list[EventType]:
        query = (
            sa.select(event_types)
            .where(event_types.c.app_id == app_id)
            .order_by(event_types.c.group_name, event_types.c.name)
        )
        async with self._db.read.connect() as conn:
            return [rows.event_type(r) for r in await conn.execute(query)]

    async def update(
        self, app_id: str, name: str, changes: dict[str, Any], now: float
    ) -> EventType | None:
        values: dict[str, Any] = {"updated_at": now}
        for field, value in changes.items():
            values[_COLUMNS[field]] = orjson.dumps(value).decode() if field == "sample" else value
        async with self._db.write.begin() as conn:
            await conn.execute(
                event_types.update()
                .where(event_types.c.app_id == app_id, event_types.c.name == name)
                .values(**values)
            )
        return await self.get(app_id, name)

    async def delete(self, app_id: str, name: str) -> bool:
        async with self._db.write.begin() as conn:
            result = await conn.execute(
                event_types.delete().where(
                    event_types.c.app_id == app_id, event_types.c.name == name
                )
            )
        return result.rowcount > 0

    async def ensure(self, types: Sequence[EventType]) -> None:
        """Create those of `types` that do not exist yet; existing ones stay as they are."""
        async with self._db.write.begin() as conn:
            await insert_missing(conn, types)

    async def names(self, app_id: str, wanted: list[str]) -> set[str]:
        """Return which of `wanted` exist in the app."""
        query = sa.select(event_types.c.name).where(
            event_types.c.app_id == app_id, event_types.c.name.in_(wanted)
        )
        async with self._db.read.connect() as conn:
            return set((await conn.execute(query)).scalars())


async def insert_missing(conn: AsyncConnection, types: Sequence[EventType]) -> None:
    """Insert the event types not there yet, inside a caller's transaction."""
    if not types:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(
        insert(event_types)
        .values(
            [
                {
                    "app_id": et.app_id,
                    "name": et.name,
                    "group_name": et.group,
                    "description": et.description,
                    "sample": orjson.dumps(et.sample).decode(),
                    "created_at": et.created_at,
                    "updated_at": et.updated_at,
                }
                for et in types
            ]
        )
        .on_conflict_do_nothing(index_elements=["app_id", "name"])
    )
