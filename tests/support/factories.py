"""Small builders for store-level tests: webhooks, published events, attempt records."""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson

from hookd import ids
from hookd.domain.models import Attempt, DeliveryStatus, EventType, Webhook
from hookd.store import Store
from hookd.store.records import AttemptRecord, Claimed, FanoutTarget, NewEvent, Published


def everyone(_: NewEvent, targets: Sequence[FanoutTarget]) -> list[str]:
    return [t.webhook_id for t in targets]


async def make_webhook(
    store: Store, app_id: str, url: str, events: Sequence[str] = ("job.start",), **kw: object
) -> Webhook:
    now = time.time()
    for name in events:
        if "*" not in name and await store.event_types.get(app_id, name) is None:
            await store.event_types.create(EventType(app_id, name, "", "", {}, now, now))
    wh = Webhook(
        id=ids.new_id("wh"),
        app_id=app_id,
        name=events[0],
        url=url,
        events=tuple(events),
        created_at=now,
        updated_at=now,
        **kw,  # type: ignore[arg-type]
    )
    await store.webhooks.create(wh)
    return wh


async def publish(
    store: Store, app_id: str, type_: str = "job.start", data: object = None, key: str | None = None
) -> Published:
    [published] = await store.events.publish(
        app_id,
        [NewEvent(type_, orjson.dumps(data or {}).decode(), key)],
        everyone,
        now=time.time(),
        idempotency_window=86400,
    )
    return published


def record_for(
    c: Claimed,
    outcome: str,
    status: DeliveryStatus,
    *,
    code: int | None = 200,
    error: str | None = None,
    next_at: float | None = None,
    disable: str | None = None,
    at: float | None = None,
) -> AttemptRecord:
    """An attempt of claimed delivery `c`, made `at` (default: now), ending in `status`."""
    now = time.time() if at is None else at
    attempt = Attempt(
        id=ids.new_id("att", now),
        delivery_id=c.delivery.id,
        webhook_id=c.webhook.id,
        app_id=c.delivery.app_id,
        number=c.delivery.attempts + 1,
        started_at=now,
        duration_ms=1.0,
        request_method="POST",
        request_url=c.webhook.url,
        request_headers={},
        response_status=code,
        response_headers={},
        response_body="",
        error_code=None,
        error_message=error,
        outcome=outcome,
    )
    return AttemptRecord(attempt, c.claim_token, status, next_at or now, error, disable)
