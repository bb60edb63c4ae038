"""Each API operation as a `Call`: method, path, body and how to read the answer.

Pure: no I/O. `Client` and `AsyncClient` send the same calls, one blocking and
one awaiting, so what a request looks like is written once, here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from hookd.client.errors import HookdError
from hookd.client.models import (
    Attempt,
    Delivery,
    DeliveryDetail,
    Event,
    EventType,
    Page,
    PublicKey,
    Published,
    Recovered,
    Webhook,
)

T = TypeVar("T")

__all__ = ["Call", "Calls", "answer"]


def _same(value: Any) -> Any:
    return value


def _nothing(_: Any) -> None:
    return None


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to hookd and how to turn its JSON answer into `T`."""

    method: str
    path: str
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    read: Callable[[Any], T] = _same


def _seg(value: str) -> str:
    return quote(value, safe="")


def _moment(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("give an aware datetime (with a time zone), e.g. datetime.now(UTC)")
    return value.isoformat()


def _given(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class Calls:
    """The calls of one app (`app` is its id or uid)."""

    def __init__(self, app: str) -> None:
        self.app = app
        self._base = f"/v1/apps/{_seg(app)}"

    # -- events --------------------------------------------------------------

    def publish(
        self, type: str, data: Mapping[str, Any] | None, idempotency_key: str | None
    ) -> Call[Published]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {"type": type, "data": dict(data or {})}
        return Call("POST", f"{self._base}/events", body, headers=headers, read=_same)

    def publish_batch(self, events: Sequence[Mapping[str, Any]]) -> Call[list[Published]]:
        body = {"events": [dict(e) for e in events]}
        return Call("POST", f"{self._base}/events/batch", body, read=lambda a: a["data"])

    def get_event(self, event_id: str) -> Call[Event]:
        return Call("GET", f"{self._base}/events/{_seg(event_id)}")

    # -- event types -----------------------------------------------------------

    def create_event_type(
        self, name: str, group: str, description: str, sample: Mapping[str, Any] | None
    ) -> Call[EventType]:
        body: dict[str, Any] = {"name": name, "group": group, "description": description}
        if sample is not None:
            body["sample"] = dict(sample)
        return Call("POST", f"{self._base}/event-types", body)

    def list_event_types(self) -> Call[list[EventType]]:
        return Call("GET", f"{self._base}/event-types")

    def get_event_type(self, name: str) -> Call[EventType]:
        return Call("GET", f"{self._base}/event-types/{_seg(name)}")

    def update_event_type(self, name: str, changes: Mapping[str, Any]) -> Call[EventType]:
        return Call("PATCH", f"{self._base}/event-types/{_seg(name)}", dict(changes))

    def delete_event_type(self, name: str) -> Call[None]:
        return Call("DELETE", f"{self._base}/event-types/{_seg(name)}", read=_nothing)

    # -- webhooks --------------------------------------------------------------

    def create_webhook(
        self, url: str, events: Sequence[str], fields: Mapping[str, Any]
    ) -> Call[Webhook]:
        body = {"url": url, "events": list(events), **fields}
        return Call("POST", f"{self._base}/webhooks", body)

    def list_webhooks(
        self, limit: int, cursor: str | None, enabled: bool | None
    ) -> Call[Page[Webhook]]:
        params = _given(limit=limit, cursor=cursor)
        if enabled is not None:
            params["enabled"] = "true" if enabled else "false"
        return Call("GET", f"{self._base}/webhooks", params=params)

    def get_webhook(self, webhook_id: str) -> Call[Webhook]:
        return Call("GET", self._webhook(webhook_id))

    def update_webhook(self, webhook_id: str, changes: Mapping[str, Any]) -> Call[Webhook]:
        return Call("PATCH", self._webhook(webhook_id), dict(changes))

    def delete_webhook(self, webhook_id: str) -> Call[None]:
        return Call("DELETE", self._webhook(webhook_id), read=_nothing)

    def test_webhook(self, webhook_id: str, event_type: str | None) -> Call[DeliveryDetail]:
        body = _given(event_type=event_type)
        return Call("POST", f"{self._webhook(webhook_id)}/test", body)

    def get_webhook_secret(self, webhook_id: str) -> Call[str | None]:
        return Call("GET", f"{self._webhook(webhook_id)}/secret", read=lambda a: a["secret"])

    def rotate_webhook_secret(
        self, webhook_id: str, secret: str | None, grace_seconds: float | None
    ) -> Call[str | None]:
        body = _given(secret=secret, grace_seconds=grace_seconds)
        path = f"{self._webhook(webhook_id)}/rotate-secret"
        return Call("POST", path, body, read=lambda a: a["secret"])

    def get_public_key(self, webhook_id: str) -> Call[PublicKey]:
        return Call("GET", f"{self._webhook(webhook_id)}/public-key")

    def _webhook(self, webhook_id: str) -> str:
        return f"{self._base}/webhooks/{_seg(webhook_id)}"

    # -- deliveries and recovery -------------------------------------------------

    def list_deliveries(
        self,
        webhook: str | None,
        event: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Call[Page[Delivery]]:
        params = _given(webhook=webhook, event=event, status=status, limit=limit, cursor=cursor)
        return Call("GET", f"{self._base}/deliveries", params=params)

    def get_delivery(self, delivery_id: str) -> Call[DeliveryDetail]:
        return Call("GET", self._delivery(delivery_id))

    def list_attempts(self, delivery_id: str) -> Call[list[Attempt]]:
        return Call("GET", self._delivery(delivery_id), read=lambda a: a["attempt_log"])

    def retry_delivery(self, delivery_id: str) -> Call[DeliveryDetail]:
        return Call("POST", f"{self._delivery(delivery_id)}/retry")

    def cancel_delivery(self, delivery_id: str) -> Call[DeliveryDetail]:
        return Call("POST", f"{self._delivery(delivery_id)}/cancel")

    def recover(
        self, webhook_id: str, since: datetime | str, until: datetime | str | None
    ) -> Call[Recovered]:
        body = {"since": _moment(since)}
        if until is not None:
            body["until"] = _moment(until)
        return Call("POST", f"{self._webhook(webhook_id)}/recover", body)

    def _delivery(self, delivery_id: str) -> str:
        return f"{self._base}/deliveries/{_seg(delivery_id)}"


def answer(call: Call[T], status: int, body: bytes) -> T:
    """Return hookd's answer to `call` as its `T`, or raise HookdError for an error."""
    try:
        decoded = json.loads(body) if body else None
    except ValueError:
        decoded = None
    if status >= 400:
        error = decoded.get("error") if isinstance(decoded, dict) else None
        if isinstance(error, dict):
            raise HookdError(
                status,
                str(error.get("code", "http_error")),
                str(error.get("message", "")),
                error.get("details"),
            )
        text = body.decode("utf-8", "replace")[:500]
        raise HookdError(status, "http_error", text or f"HTTP {status}")
    return call.read(decoded)
