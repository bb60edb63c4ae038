"""The shapes hookd answers with, as typed dicts (the JSON as it comes)."""

from __future__ import annotations

from typing import Any, Generic, TypedDict, TypeVar

T = TypeVar("T")


class Published(TypedDict):
    id: str
    type: str
    timestamp: str
    deliveries: int
    duplicate: bool


class Event(TypedDict):
    id: str
    type: str
    timestamp: str
    live: bool
    data: dict[str, Any]


class EventType(TypedDict):
    name: str
    group: str
    description: str
    sample: dict[str, Any]
    created_at: str
    updated_at: str


class Webhook(TypedDict, total=False):
    """A webhook; every field hookd answers with is present (see docs/api.md)."""

    id: str
    name: str
    description: str
    url: str
    events: list[str]
    enabled: bool
    method: str
    content_type: str
    headers: dict[str, str]
    body_template: str | None
    filter: dict[str, Any] | None
    signed: bool
    signing: list[str]
    public_key: str | None
    secret_headers: list[str]
    mail_exceptions_to: str
    last_error: str | None
    disabled_reason: str | None
    failure_streak: int
    max_in_flight: int
    rate_limit: float | None
    mode: str
    batch_order: str
    batch_max_events: int
    batch_interval: float | None
    created_at: str
    updated_at: str
    secret: str | None  # only in the answer to create


class PublicKey(TypedDict):
    public_key: str
    valid: list[str]


class Attempt(TypedDict):
    id: str
    number: int
    started_at: str
    duration_ms: float
    outcome: str
    request: dict[str, Any]
    response: dict[str, Any] | None
    error: dict[str, str | None] | None


class Delivery(TypedDict):
    id: str
    webhook_id: str
    event_id: str | None
    kind: str
    batch_id: str | None
    status: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    last_status_code: int | None
    created_at: str
    updated_at: str


class DeliveryDetail(Delivery):
    attempt_log: list[Attempt]
    events: list[dict[str, str]] | None


class Recovered(TypedDict):
    webhook_id: str
    since: str
    until: str
    recovered: int


class Page(TypedDict, Generic[T]):
    data: list[T]
    next_cursor: str | None
