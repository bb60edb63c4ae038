"""Event types: the catalogue webhooks subscribe to."""

from __future__ import annotations

from fastapi import APIRouter

from hookd.api.deps import AppDep, ChangeAppDep, RuntimeDep
from hookd.api.schemas import EventTypeIn, EventTypeOut, EventTypePatch

router = APIRouter(prefix="/v1/apps/{app}/event-types", tags=["event types"])


@router.post("", status_code=201)
async def create_event_type(body: EventTypeIn, app: ChangeAppDep, rt: RuntimeDep) -> EventTypeOut:
    et = await rt.event_types.create(app, body.name, body.group, body.description, body.sample)
    return EventTypeOut.of(et)


@router.get("")
async def list_event_types(app: AppDep, rt: RuntimeDep) -> list[EventTypeOut]:
    return [EventTypeOut.of(et) for et in await rt.event_types.all(app)]


@router.get("/{name}")
async def get_event_type(name: str, app: AppDep, rt: RuntimeDep) -> EventTypeOut:
    return EventTypeOut.of(await rt.event_types.get(app, name))


@router.patch("/{name}")
async def update_event_type(
    name: str, body: EventTypePatch, app: ChangeAppDep, rt: RuntimeDep
) -> EventTypeOut:
    changes = {k: getattr(body, k) for k in body.model_fields_set if getattr(body, k) is not None}
    return EventTypeOut.of(await rt.event_types.update(app, name, changes))


@router.delete("/{name}", status_code=204)
async def delete_event_type(name: str, app: ChangeAppDep, rt: RuntimeDep) -> None:
    await rt.event_types.delete(app, name)
