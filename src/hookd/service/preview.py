"""Preview: the exact request a webhook would send for an event, without sending it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from hookd.config import Settings
from hookd.delivery import rendering
from hookd.delivery.request import (
    RenderError,
    System,
    build_request,
    loggable_headers,
    needs_rendering,
)
from hookd.domain.matching import is_event_type_name, is_pattern
from hookd.domain.models import App, Webhook
from hookd.errors import Invalid, NotFound
from hookd.service.event_types import DEFAULT_SAMPLE
from hookd.store import Store
from hookd.store.records import StoredEvent


@dataclass(frozen=True, slots=True)
class Preview:
    method: str
    url: str
    headers: dict[str, str]
    body: str


class PreviewService:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._system = System.for_settings(settings)

    async def render(
        self,
        app: App,
        webhook: Webhook,
        *,
        event_id: str | None = None,
        event_type: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Preview:
        """Render against a stored event, given data, or the event type's sample."""
        event = await self._event(app, webhook, event_id, event_type, data)
        build = partial(build_request, webhook, event, now=time.time(), system=self._system)
        try:
            if needs_rendering(webhook):
                # As a delivery renders: in a render process, in the app's turn, so a
                # hostile template cannot stall the API (delivery/rendering.py).
                request = await rendering.render(build, app.id, self._system)
            else:
                request = build()
        except RenderError as exc:
            raise Invalid("body_template", str(exc)) from exc
        return Preview(
            method=request.method,
            url=request.url,
            headers=loggable_headers(request),
            body=request.body.decode("utf-8", errors="replace"),
        )

    async def _event(
        self,
        app: App,
        webhook: Webhook,
        event_id: str | None,
        event_type: str | None,
        data: dict[str, Any] | None,
    ) -> StoredEvent:
        if event_id:
            stored = await self._store.events.get(app.id, event_id)
            if stored is None:
                raise NotFound(f"event {event_id!r} not found")
            return stored
        name = event_type or next((e for e in webhook.events if not is_pattern(e)), None)
        if name is not None and not is_event_type_name(name):
            raise Invalid("event_type", f"{name!r} is not an event type (noun.verb)")
        sample: dict[str, Any] = dict(DEFAULT_SAMPLE)
        if name is not None and data is None:
            known = await self._store.event_types.get(app.id, name)
            if known is not None:
                sample = known.sample
        return StoredEvent(
            id="evt_preview",
            app_id=app.id,
            type=name or "webhook.test",
            data_json=orjson.dumps(data if data is not None else sample).decode(),
            timestamp=time.time(),
            live=False,
        )
