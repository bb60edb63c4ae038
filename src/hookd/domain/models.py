"""The nouns of hookd, as plain immutable records.

Times are Unix seconds (float, UTC); the API renders them as RFC 3339.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from hookd.domain.people import DEFAULT_ORG_ID

JSON = Any


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    QUEUED = "queued"
    CANCELLED = "cancelled"


# Shown instead of a secret value (secret headers, in API answers and attempt logs).
MASK = "••••••"

# Pending deliveries of a disabled webhook are parked this far in the future
# (Unix seconds), so claiming never scans them; enabling brings them back.
PARKED_AT = 1e15
# The outcome of an attempt recorded after its lease had been taken over (fenced):
# kept in the attempt log, it changed neither its delivery nor its webhook's health.
SUPERSEDED = "superseded"
IDEMPOTENCY_KEY_MAX = 256  # characters in an idempotency key (header or body `id`)

FINISHED = frozenset({DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class App:
    id: str
    uid: str
    name: str
    created_at: float
    org_id: str = DEFAULT_ORG_ID  # the organization it belongs to


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    app_id: str | None  # None: the instance admin key, or a user's token
    name: str
    prefix: str
    created_at: float
    user_id: str | None = None  # a user's token: authenticates as that user
    role: str = "owner"  # an app key's KeyRole (domain/roles.py)


@dataclass(frozen=True, slots=True)
class EventType:
    app_id: str
    name: str
    group: str
    description: str
    sample: dict[str, JSON]
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    app_id: str
    type: str
    data: dict[str, JSON]
    timestamp: float
    live: bool = True
    idempotency_key: str | None = None


DEFAULT_MAX_IN_FLIGHT = 10  # a webhook's requests in flight at once, per worker


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    app_id: str
    name: str
    url: str
    events: tuple[str, ...]
    enabled: bool = True
    description: str = ""
    method: str = "POST"
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    body_template: str | None = None
    filter: dict[str, JSON] | None = None
    secret: str | None = None
    mail_exceptions_to: str = ""
    last_error: str | None = None
    disabled_reason: str | None = None
    failure_streak: int = 0
    last_error_at: float | None = None  # when last_error was set (it stays after recovery)
    # ordered delivery (domain/ordering.py): none | fifo, and the key of its lines
    ordering: str = "none"
    ordering_key: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    # request shaping
    signing: tuple[str, ...] = ("standard",)
    secret_headers: tuple[str, ...] = ()
    old_secrets: tuple[OldSecret, ...] = ()
    # health and isolation
    disable_after_failures: int | None = None
    disable_after_seconds: float | None = None
    failing_since: float | None = None
    last_success_at: float | None = None
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    rate_limit: float | None = None
    circuit_open_until: float | None = None
    mail_sent_at: float | None = None
    # queued batch delivery
    mode: str = "immediate"
    batch_order: str = "chronological"
    batch_max_events: int = 100
    batch_interval: float | None = None
    next_flush_at: float | None = None

    def signing_secrets(self, now: float) -> list[str]:
        """Return the secrets that sign right now: the current one, then unexpired old ones."""
        if self.secret is None:
            return []
        return [self.secret, *(o.secret for o in self.old_secrets if o.expires_at > now)]


@dataclass(frozen=True, slots=True)
class OldSecret:
    """A replaced secret that keeps signing until `expires_at` (a rotation's grace period)."""

    secret: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    app_id: str
    webhook_id: str
    event_id: str | None  # None for a batch (its events are listed separately)
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float
    last_error: str | None = None
    last_status_code: int | None = None
    kind: str = "event"  # event | batch
    batch_id: str | None = None  # a queued delivery: the batch that carried it
    ordering_key: str | None = None  # a FIFO webhook's: the line it waits in


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP try of a delivery, as recorded in the attempt log."""

    id: str
    delivery_id: str
    webhook_id: str
    app_id: str
    number: int
    started_at: float
    duration_ms: float
    request_method: str
    request_url: str
    request_headers: dict[str, str]
    response_status: int | None
    response_headers: dict[str, str]
    response_body: str
    error_code: str | None
    error_message: str | None
    outcome: str
