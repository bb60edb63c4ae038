"""Event types: the named kinds of event an app publishes."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.exc import IntegrityError

from hookd.domain import jsonlimits
from hookd.domain.matching import is_event_type_name
from hookd.domain.models import App, EventType
from hookd.errors import Conflict, Invalid, NotFound
from hookd.store import Store

DEFAULT_SAMPLE: dict[str, Any] = {"object_id": 12345}


class EventTypeService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(
        self, app: App, name: str, group: str, description: str, sample: dict[str, Any] | None
    ) -> EventType:
        if not is_event_type_name(name):
            raise Invalid(
                "name", "must be noun.verb: lowercase letters, digits, '_' or '-', dot-separated"
            )
        if sample is not None:
            _check_sample(sample)
        now = time.time()
        event_type = EventType(
            app_id=app.id,
            name=name,
            group=group,
            description=description,
            sample=sample if sample is not None else dict(DEFAULT_SAMPLE),
            created_at=now,
            updated_at=now,
        )
        try:
            await self._store.event_types.create(event_type)
        except IntegrityError as exc:
            raise Conflict(f"event type {name!r} already exists") from exc
        return event_type

    async def get(self, app: App, name: str) -> EventType:
        found = await self._store.event_types.get(app.id, name)
        if found is None:
            raise NotFound(f"event type {name!r} not found")
        return found

    async def all(self, app: App) -> list[EventType]:
        return await self._store.event_types.all(app.id)

    async def update(self, app: App, name: str, changes: dict[str, Any]) -> EventType:
        if changes.get("sample") is not None:
            _check_sample(changes["sample"])
        await self.get(app, name)
        updated = await self._store.event_types.update(app.id, name, changes, time.time())
        if updated is None:
            raise NotFound(f"event type {name!r} not found")
        return updated

    async def delete(self, app: App, name: str) -> None:
        if not await self._store.event_types.delete(app.id, name):
            raise NotFound(f"event type {name!r} not found")


def _check_sample(sample: object) -> None:
    """Refuse a sample the store cannot keep: samples are limited to 64-bit integers."""
    if not isinstance(sample, dict):
        raise Invalid("sample", "must be a JSON object")
    found = jsonlimits.problem(sample)
    if found is not None:
        raise Invalid(jsonlimits.within("sample", found[0]), found[1])
