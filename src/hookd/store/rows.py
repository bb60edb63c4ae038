"""Turn rows into domain records; JSON columns are decoded here."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Row

from hookd.domain.models import (
    ApiKey,
    App,
    Attempt,
    Delivery,
    DeliveryStatus,
    EventType,
    OldSecret,
    Webhook,
)
from hookd.store.records import StoredEvent


def app(row: Row[Any]) -> App:
    return App(id=row.id, uid=row.uid, name=row.name, created_at=row.created_at)


def api_key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id, app_id=row.app_id, name=row.name, prefix=row.prefix, created_at=row.created_at
    )


def event_type(row: Row[Any]) -> EventType:
    return EventType(
        app_id=row.app_id,
        name=row.name,
        group=row.group_name,
        description=row.description,
        sample=orjson.loads(row.sample),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def webhook(row: Row[Any]) -> Webhook:
    return Webhook(
        id=row.id,
        app_id=row.app_id,
        name=row.name,
        description=row.description,
        url=row.url,
        events=tuple(orjson.loads(row.events)),
        enabled=bool(row.enabled),
        method=row.method,
        content_type=row.content_type,
        headers=orjson.loads(row.headers),
        body_template=row.body_template,
        filter=orjson.loads(row.filter) if row.filter else None,
        secret=row.secret,
        mail_exceptions_to=row.mail_exceptions_to,
        last_error=row.last_error,
        disabled_reason=row.disabled_reason,
        failure_streak=row.failure_streak,
        created_at=row.created_at,
        updated_at=row.updated_at,
        signing=tuple(orjson.loads(row.signing)),
        secret_headers=tuple(orjson.loads(row.secret_headers)),
        old_secrets=tuple(
            OldSecret(o["secret"], o["expires_at"]) for o in orjson.loads(row.old_secrets)
        ),
        disable_after_failures=row.disable_after_failures,
        disable_after_seconds=row.disable_after_seconds,
        failing_since=row.failing_since,
        last_success_at=row.last_success_at,
        max_in_flight=row.max_in_flight,
        rate_limit=row.rate_limit,
        circuit_open_until=row.circuit_open_until,
        mail_sent_at=row.mail_sent_at,
        mode=row.mode,
        batch_order=row.batch_order,
        batch_max_events=row.batch_max_events,
        batch_interval=row.batch_interval,
        next_flush_at=row.next_flush_at,
    )


def event(row: Row[Any]) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        app_id=row.app_id,
        type=row.type,
        data_json=row.data,
        timestamp=row.timestamp,
        live=bool(row.live),
        idempotency_key=row.idempotency_key,
    )


def delivery(row: Row[Any]) -> Delivery:
    return delivery_from_values(row._mapping)


def delivery_from_values(row: Any) -> Delivery:
    """Build a Delivery from a row mapping or a dict of column values."""
    return Delivery(
        id=row["id"],
        app_id=row["app_id"],
        webhook_id=row["webhook_id"],
        event_id=row["event_id"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_error=row["last_error"],
        last_status_code=row["last_status_code"],
        kind=row.get("kind") or "event",
        batch_id=row.get("batch_id"),
    )


def attempt(row: Row[Any]) -> Attempt:
    return Attempt(
        id=row.id,
        delivery_id=row.delivery_id,
        webhook_id=row.webhook_id,
        app_id=row.app_id,
        number=row.number,
        started_at=row.started_at,
        duration_ms=row.duration_ms,
        request_method=row.request_method,
        request_url=row.request_url,
        request_headers=orjson.loads(row.request_headers),
        response_status=row.response_status,
        response_headers=orjson.loads(row.response_headers),
        response_body=row.response_body,
        error_code=row.error_code,
        error_message=row.error_message,
        outcome=row.outcome,
    )


def attempt_values(a: Attempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "delivery_id": a.delivery_id,
        "webhook_id": a.webhook_id,
        "app_id": a.app_id,
        "number": a.number,
        "started_at": a.started_at,
        "duration_ms": a.duration_ms,
        "request_method": a.request_method,
        "request_url": a.request_url,
        "request_headers": orjson.dumps(a.request_headers).decode(),
        "response_status": a.response_status,
        "response_headers": orjson.dumps(a.response_headers).decode(),
        "response_body": a.response_body,
        "error_code": a.error_code,
        "error_message": a.error_message,
        "outcome": a.outcome,
    }
