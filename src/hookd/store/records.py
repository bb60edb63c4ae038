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
    trace_context: str | None = None  # W3C trace context as JSON (hookd/telemetry.py)


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
    trace_context: str | None = None  # W3C trace context as JSON (hookd/telemetry.py)


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
    mode: str = "immediate"  # queued: its deliveries wait for a batch flush
    ordering_key: str | None = None  # FIFO: the key template ('' one line); None: no order


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery leased to one worker, with what sending it needs.

    For a batch, `event` stands for the batch itself (its id, type `batch`)
    and `events` are the events it carries, in the order they are sent.
    """

    delivery: Delivery
    claim_token: str
    event: StoredEvent
    webhook: Webhook
    events: tuple[StoredEvent, ...] = ()


@dataclass(slots=True)
class AttemptRecord:
    """One finished attempt and what it changes; written in batches."""

    attempt: Attempt
    claim_token: str
    status: DeliveryStatus
    next_attempt_at: float
    last_error: str | None
    disable_reason: str | None = None
    batch: bool = False  # the delivery is a batch: its carried deliveries follow its outcome
    # For webhook health, e-mail and operational events (store/health.py):
    event_id: str | None = None
    event_type: str | None = None
    operational: bool = False  # it delivers an operational event: it raises none itself
    counts: bool = True  # False for test sends: they leave the webhook's health alone
    ordered: bool = False  # its webhook is FIFO: once it is done, the next in line is due


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    next_cursor: str | None

    @classmethod
    def cut(cls, found: list[Any], limit: int) -> Page:
        """Make a page from up to `limit + 1` rows by id; the extra row says there is more."""
        items = found[:limit]
        more = len(found) > limit and bool(items)
        return cls(items=items, next_cursor=items[-1].id if more else None)


@dataclass(frozen=True, slots=True)
class DeliveryDetail:
    delivery: Delivery
    attempts: list[Attempt] = field(default_factory=list)
    events: list[StoredEvent] = field(default_factory=list)  # a batch's, in the order sent
