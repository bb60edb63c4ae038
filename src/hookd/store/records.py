"""What the store takes and gives back beyond the domain models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hookd.domain.models import Attempt, Delivery, DeliveryStatus, Webhook


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event on its way in; `data_json` is the compact JSON of its data."""

    type: str
    data_json: str
    idempotency_key: str | None = None
    live: bool = True


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored, with its data still as JSON text."""

    id: str
    app_id: str
    type: str
    data_json: str
    timestamp: float
    live: bool
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Published:
    event: StoredEvent
    deliveries: int
    duplicate: bool  # an earlier event with the same idempotency key was returned


@dataclass(frozen=True, slots=True)
class FanoutTarget:
    """A webhook subscribed to an event, as fan-out needs to see it."""

    webhook_id: str
    filter: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery leased to one worker, with what sending it needs."""

    delivery: Delivery
    claim_token: str
    event: StoredEvent
    webhook: Webhook


@dataclass(slots=True)
class AttemptRecord:
    """One finished attempt and what it changes; written in batches."""

    attempt: Attempt
    claim_token: str
    status: DeliveryStatus
    next_attempt_at: float
    last_error: str | None
    disable_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DeliveryDetail:
    delivery: Delivery
    attempts: list[Attempt] = field(default_factory=list)
