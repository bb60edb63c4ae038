"""Request and response bodies of the v1 API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from hookd.domain import jsonlimits, signing
from hookd.domain.envelope import rfc3339
from hookd.domain.models import (
    IDEMPOTENCY_KEY_MAX,
    MASK,
    PARKED_AT,
    ApiKey,
    App,
    Attempt,
    Delivery,
    EventType,
    Webhook,
)
from hookd.domain.roles import KeyRole
from hookd.domain.secrets import is_secret_header
from hookd.errors import Invalid
from hookd.store.records import DeliveryDetail, Published, StoredEvent

T = TypeVar("T")


class Strict(BaseModel):
    """A request body: unknown fields refused, and only JSON hookd can store and send.

    Every field's value passes `jsonlimits.problem` (depth, lone surrogates,
    non-finite numbers, integers outside 64 bits unless the field is in
    `big_int_fields`); a refusal is a `json_limit` error carrying the path inside
    the field, which api/errors.py joins to the field's name.
    """

    model_config = ConfigDict(extra="forbid")
    big_int_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _within_json_limits(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise _json_limit("", "must not contain NUL characters")
        found = jsonlimits.problem(value, big_ints=info.field_name in cls.big_int_fields)
        if found is not None:
            raise _json_limit(*found)
        return value


def _json_limit(path: str, reason: str) -> PydanticCustomError:
    return PydanticCustomError("json_limit", "{reason}", {"path": path, "reason": reason})


class AppIn(Strict):
    uid: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = Field(default="", max_length=200)
    org: str | None = Field(
        default=None, description="The org (`org_…`) the app belongs to; default: the default org."
    )


class AppOut(BaseModel):
    id: str
    uid: str
    name: str
    org: str
    created_at: str

    @classmethod
    def of(cls, app: App) -> AppOut:
        return cls(
            id=app.id,
            uid=app.uid,
            name=app.name,
            org=app.org_id,
            created_at=rfc3339(app.created_at),
        )


class ApiKeyIn(Strict):
    name: str = Field(default="api key", max_length=200)
    role: KeyRole = Field(
        default=KeyRole.OWNER,
        description="`owner`: everything in the app; `viewer`: read only;"
        " `publisher`: publish events only.",
    )


class ApiKeyOut(BaseModel):
    id: str
    app_id: str | None
    name: str
    prefix: str
    created_at: str
    role: str = "owner"
    key: str | None = Field(default=None, description="Shown once, on create.")

    @classmethod
    def of(cls, key: ApiKey, plain: str | None = None) -> ApiKeyOut:
        return cls(
            id=key.id,
            app_id=key.app_id,
            name=key.name,
            prefix=key.prefix,
            created_at=rfc3339(key.created_at),
            role=key.role,
            key=plain,
        )


class EventTypeIn(Strict):
    name: str = Field(max_length=128)
    group: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=65536)
    sample: dict[str, Any] | None = None


class EventTypePatch(Strict):
    group: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=65536)
    sample: dict[str, Any] | None = None


class EventTypeOut(BaseModel):
    name: str
    group: str
    description: str
    sample: dict[str, Any]
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, et: EventType) -> EventTypeOut:
        return cls(
            name=et.name,
            group=et.group,
            description=et.description,
            sample=et.sample,
            created_at=rfc3339(et.created_at),
            updated_at=rfc3339(et.updated_at),
        )


_NULLABLE = frozenset(
    {
        "secret",
        "body_template",
        "filter",
        "disable_after_failures",
        "disable_after_seconds",
        "rate_limit",
        "batch_interval",
        "ordering_key",
    }
)


class WebhookIn(Strict):
    """A webhook to create; `uri`, `event` and `disabled` are the 4me-style aliases."""

    name: str | None = Field(default=None, max_length=200)
    description: str | None = None
    url: str | None = None
    uri: str | None = None
    events: list[str] | None = None
    event: str | None = None
    enabled: StrictBool | None = None
    disabled: StrictBool | None = None
    method: str | None = None
    content_type: str | None = None
    headers: dict[str, str] | None = None
    body_template: str | None = None
    filter: dict[str, Any] | None = None
    secret: str | None = None
    mail_exceptions_to: str | None = None
    signing: list[str] | None = Field(
        default=None, description="Signature schemes: standard, hmac-sha256-base64, github."
    )
    secret_headers: list[str] | None = Field(
        default=None, description="Names of `headers` whose values are masked when shown."
    )
    disable_after_failures: int | None = Field(
        default=None, description="Disable after this many failed attempts in a row."
    )
    disable_after_seconds: float | None = Field(
        default=None, description="Disable after failing this long without a success."
    )
    max_in_flight: int | None = Field(
        default=None,
        description="Requests in flight at most, per delivering process (HOOKD_DELIVERY_PROCESSES"
        " and each `hookd worker`); use ordering: fifo for one at a time.",
    )
    rate_limit: float | None = Field(
        default=None, description="Requests per second at most, per delivering process."
    )
    mode: str | None = Field(default=None, description="immediate, or queued (batch delivery).")
    batch_order: str | None = Field(default=None, description="chronological or reverse.")
    batch_max_events: int | None = Field(default=None, description="Events per batch at most.")
    batch_interval: float | None = Field(
        default=None, description="Seconds between automatic flushes; null: on command only."
    )
    ordering: str | None = Field(
        default=None,
        description="none (default), or fifo: one delivery at a time per line, in publish"
        " order; a failing one holds those behind it until it succeeds, is cancelled or"
        " fails for good.",
        json_schema_extra={"enum": ["none", "fifo"]},
    )
    ordering_key: str | None = Field(
        default=None,
        max_length=500,
        description="With fifo: the line an event joins, e.g. `${order.id}` (field paths"
        " only); lines flow in parallel. Absent: the whole webhook is one line.",
    )

    def fields(self) -> dict[str, Any]:
        """Return the fields given, aliases folded into their canonical names."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if value is None and name not in _NULLABLE:
                continue
            out[name] = value
        _fold(out, "uri", "url", lambda v: v)
        _fold(out, "event", "events", lambda v: [v])
        _fold(out, "disabled", "enabled", lambda v: not v)
        return out


def _time(ts: float | None) -> str | None:
    return None if ts is None else rfc3339(ts)


def _fold(fields: dict[str, Any], alias: str, name: str, convert: Any) -> None:
    if alias not in fields:
        return
    value = convert(fields.pop(alias))
    if name in fields and fields[name] != value:
        raise Invalid(alias, f"conflicts with {name!r}; give one of them")
    fields[name] = value


class WebhookPatch(WebhookIn):
    """Fields to change; absent fields stay as they are."""


class WebhookOut(BaseModel):
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
    signed: bool = Field(description="Whether requests carry a signature (a secret is set).")
    signing: list[str]
    public_key: str | None = Field(
        default=None,
        description='With `signing: ["ed25519"]`: the `whpk_…` key receivers verify with.',
    )
    secret_headers: list[str]
    mail_exceptions_to: str
    last_error: str | None = Field(
        description="The latest failed attempt's error; it stays after the webhook recovers."
    )
    last_error_at: str | None = Field(
        default=None, description="When `last_error` happened (compare with `last_success_at`)."
    )
    disabled_reason: str | None
    failure_streak: int
    failing_since: str | None
    last_success_at: str | None
    disable_after_failures: int | None
    disable_after_seconds: float | None
    max_in_flight: int
    rate_limit: float | None
    circuit_open_until: str | None
    mode: str
    batch_order: str
    batch_max_events: int
    batch_interval: float | None
    next_flush_at: str | None
    ordering: str = Field(default="none", description="none or fifo.")
    ordering_key: str | None = Field(default=None, description="With fifo: the line template.")
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, wh: Webhook) -> WebhookOut:
        return cls(
            id=wh.id,
            name=wh.name,
            description=wh.description,
            url=wh.url,
            events=list(wh.events),
            enabled=wh.enabled,
            method=wh.method,
            content_type=wh.content_type,
            headers={
                k: MASK if is_secret_header(k, wh.secret_headers) else v
                for k, v in wh.headers.items()
            },
            body_template=wh.body_template,
            filter=wh.filter,
            signed=wh.secret is not None,
            signing=list(wh.signing),
            public_key=public_key_of(wh),
            secret_headers=list(wh.secret_headers),
            mail_exceptions_to=wh.mail_exceptions_to,
            last_error=wh.last_error,
            last_error_at=_time(wh.last_error_at),
            disabled_reason=wh.disabled_reason,
            failure_streak=wh.failure_streak,
            failing_since=_time(wh.failing_since),
            last_success_at=_time(wh.last_success_at),
            disable_after_failures=wh.disable_after_failures,
            disable_after_seconds=wh.disable_after_seconds,
            max_in_flight=wh.max_in_flight,
            rate_limit=wh.rate_limit,
            circuit_open_until=_time(wh.circuit_open_until),
            mode=wh.mode,
            batch_order=wh.batch_order,
            batch_max_events=wh.batch_max_events,
            batch_interval=wh.batch_interval,
            next_flush_at=_time(wh.next_flush_at),
            ordering=wh.ordering,
            ordering_key=wh.ordering_key,
            created_at=rfc3339(wh.created_at),
            updated_at=rfc3339(wh.updated_at),
        )


class WebhookCreated(WebhookOut):
    secret: str | None = Field(description="Shown on create; later from GET …/secret.")


class SecretOut(BaseModel):
    secret: str | None


class RotateIn(Strict):
    secret: str | None = Field(default=None, description="The new secret; generated when absent.")
    grace_seconds: float = Field(
        default=86400, ge=0, le=30 * 86400, description="How long the old secret keeps signing."
    )


class PreviewIn(Strict):
    event_id: str | None = Field(default=None, description="Render against this stored event.")
    event_type: str | None = Field(default=None, description="Or this type with `data`/sample.")
    data: dict[str, Any] | None = Field(default=None, description="Data for the preview event.")


class DraftPreviewIn(PreviewIn):
    webhook: WebhookIn


class PreviewOut(BaseModel):
    method: str
    url: str
    headers: dict[str, str]
    body: str


class TestIn(Strict):
    event_type: str | None = None


class EventIn(Strict):
    big_int_fields = frozenset({"data"})  # kept exactly: stored, delivered and signed as sent

    type: str = Field(max_length=128)
    data: dict[str, Any] = Field(default_factory=dict)
    id: str | None = Field(
        default=None,
        max_length=IDEMPOTENCY_KEY_MAX,
        description="Idempotency key (like the header).",
    )


class EventBatchIn(Strict):
    events: list[EventIn] = Field(min_length=1)


class PublishedOut(BaseModel):
    id: str
    type: str
    timestamp: str
    deliveries: int
    duplicate: bool = False

    @staticmethod
    def dicts(published: Sequence[Published]) -> list[dict[str, Any]]:
        """Return these results as this model's JSON objects, without building models.

        Publishing answers with thousands of these a second; a model each (validated,
        then serialised) cost more than storing the event.
        """
        stamps: dict[float, str] = {}  # events published together share their timestamp
        out = []
        for p in published:
            event = p.event
            stamp = stamps.get(event.timestamp)
            if stamp is None:
                stamp = stamps[event.timestamp] = rfc3339(event.timestamp)
            out.append(
                {
                    "id": event.id,
                    "type": event.type,
                    "timestamp": stamp,
                    "deliveries": p.deliveries,
                    "duplicate": p.duplicate,
                }
            )
        return out


class PublishedBatchOut(BaseModel):
    data: list[PublishedOut]


class EventOut(BaseModel):
    id: str
    type: str
    timestamp: str
    live: bool
    data: dict[str, Any]

    @classmethod
    def of(cls, event: StoredEvent, data: dict[str, Any]) -> EventOut:
        return cls(
            id=event.id,
            type=event.type,
            timestamp=rfc3339(event.timestamp),
            live=event.live,
            data=data,
        )


class AttemptOut(BaseModel):
    id: str
    number: int
    started_at: str
    duration_ms: float
    outcome: str = Field(
        description="`succeeded`, `retry` (another attempt follows), `failed`, `disable`"
        " (the receiver asked not to be called again), or `superseded`: recorded after"
        " another process had taken the delivery over; kept for the record, it changed"
        " neither the delivery nor the webhook's health."
    )
    request: dict[str, Any]
    response: dict[str, Any] | None
    error: dict[str, str | None] | None

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        response = None
        if a.response_status is not None:
            response = {
                "status": a.response_status,
                "headers": a.response_headers,
                "body": a.response_body,
            }
        error = None
        if a.error_code:
            error = {"code": a.error_code, "message": a.error_message}
        return cls(
            id=a.id,
            number=a.number,
            started_at=rfc3339(a.started_at),
            duration_ms=a.duration_ms,
            outcome=a.outcome,
            request={
                "method": a.request_method,
                "url": a.request_url,
                "headers": a.request_headers,
            },
            response=response,
            error=error,
        )


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    event_id: str | None = Field(description="None for a batch delivery.")
    kind: str = Field(description="event, or batch (queued events sent together).")
    batch_id: str | None = Field(description="For a queued event: the batch that carried it.")
    status: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    last_status_code: int | None
    ordering_key: str | None = Field(
        default=None, description="A fifo webhook's delivery: the line it waits in."
    )
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        waiting = d.status.value == "pending" and d.next_attempt_at < PARKED_AT
        return cls(
            id=d.id,
            webhook_id=d.webhook_id,
            event_id=d.event_id,
            kind=d.kind,
            batch_id=d.batch_id,
            status=d.status.value,
            attempts=d.attempts,
            next_attempt_at=rfc3339(d.next_attempt_at) if waiting else None,
            last_error=d.last_error,
            last_status_code=d.last_status_code,
            ordering_key=d.ordering_key,
            created_at=rfc3339(d.created_at),
            updated_at=rfc3339(d.updated_at),
        )


class CarriedEventOut(BaseModel):
    id: str
    type: str
    timestamp: str


class DeliveryDetailOut(DeliveryOut):
    attempt_log: list[AttemptOut]
    events: list[CarriedEventOut] | None = Field(
        default=None, description="For a batch: the events it carries, in the order sent."
    )

    @classmethod
    def of_detail(cls, detail: DeliveryDetail) -> DeliveryDetailOut:
        base = DeliveryOut.of(detail.delivery).model_dump()
        carried = None
        if detail.delivery.kind == "batch":
            carried = [
                CarriedEventOut(id=e.id, type=e.type, timestamp=rfc3339(e.timestamp))
                for e in detail.events
            ]
        return cls(**base, attempt_log=[AttemptOut.of(a) for a in detail.attempts], events=carried)


class FlushedBatchOut(BaseModel):
    id: str = Field(description="The batch delivery's id (its requests' `webhook-id`).")
    events: int


class FlushOut(BaseModel):
    batches: list[FlushedBatchOut] = Field(description="Batch deliveries made, in order.")
    events: int = Field(description="Events they carry in all.")


def public_key_of(wh: Webhook) -> str | None:
    """The public key of an ed25519 webhook's current secret."""
    if wh.secret is None or signing.ED25519 not in wh.signing:
        return None
    return signing.public_key(wh.secret)


class PublicKeyOut(BaseModel):
    public_key: str = Field(description="`whpk_…`: verify `v1a` signatures with it.")
    valid: list[str] = Field(
        description="Every public key that signs now: the current one, then those of"
        " rotated-out keys still in their grace period."
    )


class PageOut(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


class RecoverIn(Strict):
    """A window of creation times: the webhook's failed deliveries in it are sent again."""

    since: AwareDatetime = Field(description="RFC 3339, e.g. `2026-11-22T04:00:00Z`.")
    until: AwareDatetime | None = Field(default=None, description="RFC 3339; default: now.")


class RecoverOut(BaseModel):
    webhook_id: str
    since: str
    until: str
    recovered: int = Field(description="Failed deliveries made pending again.")
