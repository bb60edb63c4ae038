"""Operational events: what hookd itself publishes about webhooks and their deliveries.

    webhook.disabled     hookd disabled a webhook (410 Gone, or it failed too long)
    webhook.enabled      a disabled webhook was enabled again
    delivery.failed      a delivery failed for good (retries exhausted, or not retryable)
    delivery.recovered   a delivery that had failed for good got through (retry, recover)

They enter the webhook's app through the normal publish path, so other webhooks
subscribe to them like to any event type (group `hookd`): a Slack or paging
webhook on `webhook.*` and `delivery.*`. No loops: an operational event about a
webhook is never delivered to that webhook, and a delivery of an operational
event never raises another one. Such events carry an idempotency key starting
with `hookd:`, which is how a delivery tells that its event is operational.
"""

from __future__ import annotations

from typing import Any

from hookd.domain.models import EventType

__all__ = [
    "DELIVERY_FAILED",
    "DELIVERY_RECOVERED",
    "EVENT_TYPES",
    "GROUP",
    "WEBHOOK_DISABLED",
    "WEBHOOK_ENABLED",
    "catalogue",
    "idempotency_key",
    "is_operational",
]

WEBHOOK_DISABLED = "webhook.disabled"
WEBHOOK_ENABLED = "webhook.enabled"
DELIVERY_FAILED = "delivery.failed"
DELIVERY_RECOVERED = "delivery.recovered"

GROUP = "hookd"
KEY_PREFIX = "hookd:"

_WEBHOOK = {"id": "wh_01kabcdefghjkmnpqrstvwxyz0", "name": "job.success", "url": "https://…"}
_DELIVERY = {
    "id": "dlv_01kabcdefghjkmnpqrstvwxyz0",
    "event_id": "evt_01kabcdefghjkmnpqrstvwxyz0",
    "event_type": "job.success",
    "attempts": 8,
    "last_error": "503 Service Unavailable",
    "last_status_code": 503,
}

# name -> (description, sample data)
EVENT_TYPES: dict[str, tuple[str, dict[str, Any]]] = {
    WEBHOOK_DISABLED: (
        "hookd disabled a webhook: it answered 410 Gone, or failed too long.",
        {"webhook": _WEBHOOK, "reason": "100 attempts in a row failed", "last_error": "…"},
    ),
    WEBHOOK_ENABLED: ("A disabled webhook was enabled again.", {"webhook": _WEBHOOK}),
    DELIVERY_FAILED: (
        "A delivery failed for good: its retries ran out, or it cannot be retried.",
        {"webhook": _WEBHOOK, "delivery": _DELIVERY},
    ),
    DELIVERY_RECOVERED: (
        "A delivery that had failed for good got through (retried or recovered).",
        {"webhook": _WEBHOOK, "delivery": {**_DELIVERY, "last_error": None}},
    ),
}


def catalogue(app_id: str, now: float) -> list[EventType]:
    """Return the operational event types as an app's catalogue lists them (group `hookd`)."""
    return [
        EventType(app_id, name, GROUP, description, sample, now, now)
        for name, (description, sample) in EVENT_TYPES.items()
    ]


def idempotency_key(event_type: str, subject: str, occasion: str) -> str:
    """Return the key that marks an operational event and makes publishing it idempotent.

    `subject` is the webhook or delivery it is about, `occasion` what makes this
    occurrence unique (the attempt that failed, the time of the change).
    """
    return f"{KEY_PREFIX}{event_type}:{subject}:{occasion}"


def is_operational(event_type: str, idempotency_key: str | None) -> bool:
    """Tell whether an event is one hookd published about its own webhooks."""
    return (
        event_type in EVENT_TYPES
        and idempotency_key is not None
        and idempotency_key.startswith(KEY_PREFIX)
    )
