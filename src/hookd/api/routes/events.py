"""Publishing events, and reading them back."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Response

from hookd.api.deps import AppDep, PublishAppDep, RuntimeDep
from hookd.api.schemas import EventBatchIn, EventIn, EventOut, PublishedBatchOut, PublishedOut
from hookd.delivery.ingest import EventIn as NewEventIn
from hookd.domain import jsonlimits
from hookd.domain.models import IDEMPOTENCY_KEY_MAX
from hookd.errors import Invalid, NotFound

router = APIRouter(prefix="/v1/apps/{app}/events", tags=["events"])

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=IDEMPOTENCY_KEY_MAX)
]


@router.post("", status_code=202, response_model=PublishedOut)
async def publish(
    body: EventIn, app: PublishAppDep, rt: RuntimeDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Publish one event; 202 once it and its deliveries are stored."""
    key = idempotency_key or body.id
    published = await rt.ingest.publish(app.id, [NewEventIn(body.type, body.data, key)])
    return _accepted(PublishedOut.dicts(published)[0])


@router.post("/batch", status_code=202, response_model=PublishedBatchOut)
async def publish_batch(body: EventBatchIn, app: PublishAppDep, rt: RuntimeDep) -> Response:
    """Publish up to 1,000 events in one transaction."""
    if len(body.events) > rt.settings.batch_max_events:
        raise Invalid("events", f"at most {rt.settings.batch_max_events} events per call")
    items = [NewEventIn(e.type, e.data, e.id) for e in body.events]
    return _accepted({"data": PublishedOut.dicts(await rt.ingest.publish(app.id, items))})


def _accepted(content: Any) -> Response:
    """Answer 202 with `content` as JSON, serialised once by orjson (no response model pass)."""
    return Response(orjson.dumps(content), status_code=202, media_type="application/json")


@router.get("/{event_id}")
async def get_event(event_id: str, app: AppDep, rt: RuntimeDep) -> EventOut:
    event = await rt.store.events.get(app.id, event_id)
    if event is None:
        raise NotFound(f"event {event_id!r} not found")
    return EventOut.of(event, jsonlimits.loads(event.data_json))
