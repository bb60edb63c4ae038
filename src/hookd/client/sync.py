"""`Client`: hookd's API from blocking code, on httpx.

with Client("http://127.0.0.1:8000", key) as hookd:
    hookd.create_event_type("job.success", sample={"job": {"id": 1}})
    hookd.create_webhook("https://example.com/hook", ["job.*"])
    hookd.publish("job.success", {"job": {"id": 7}}, idempotency_key="job-7")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from hookd.client.calls import Call, Calls, answer
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

__all__ = ["Client"]


class Client:
    """hookd's API for one app (`app`: its id or uid), with one pooled HTTP client.

    Every method raises `HookdError` (status, code, message, details) when hookd
    answers an error, and with status 0 when it cannot be reached.
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        key: str | None = None,
        *,
        app: str = "default",
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = http or httpx.Client(base_url=url, headers=headers, timeout=timeout)
        self._owns_http = http is None
        self._calls = Calls(app)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (when the client made it)."""
        if self._owns_http:
            self._http.close()

    def send(self, call: Call[T]) -> T:
        """Send one call and return its answer."""
        try:
            response = self._http.request(
                call.method,
                call.path,
                json=call.json,
                params=call.params or None,
                headers=call.headers or None,
            )
        except httpx.TransportError as exc:
            raise HookdError(0, "unreachable", f"cannot reach hookd: {exc!r}") from exc
        return answer(call, response.status_code, response.content)

    # -- events --------------------------------------------------------------

    def publish(
        self,
        type: str,
        data: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Published:
        """Publish one event; a repeated `idempotency_key` answers `duplicate: True`."""
        return self.send(self._calls.publish(type, data, idempotency_key))

    def publish_batch(self, events: Sequence[Mapping[str, Any]]) -> list[Published]:
        """Publish up to 1,000 events (`{"type", "data", "id"?}`) in one transaction."""
        return self.send(self._calls.publish_batch(events))

    def get_event(self, event_id: str) -> Event:
        return self.send(self._calls.get_event(event_id))

    # -- event types -----------------------------------------------------------

    def create_event_type(
        self,
        name: str,
        *,
        group: str = "",
        description: str = "",
        sample: Mapping[str, Any] | None = None,
    ) -> EventType:
        return self.send(self._calls.create_event_type(name, group, description, sample))

    def list_event_types(self) -> list[EventType]:
        return self.send(self._calls.list_event_types())

    def get_event_type(self, name: str) -> EventType:
        return self.send(self._calls.get_event_type(name))

    def update_event_type(self, name: str, **changes: Any) -> EventType:
        """Change `group`, `description` or `sample`."""
        return self.send(self._calls.update_event_type(name, changes))

    def delete_event_type(self, name: str) -> None:
        return self.send(self._calls.delete_event_type(name))

    # -- webhooks --------------------------------------------------------------

    def create_webhook(self, url: str, events: Sequence[str], **fields: Any) -> Webhook:
        """Subscribe `url` to event types or patterns; the answer carries `secret`.

        `fields` are any other webhook fields: `signing=["ed25519"]`, `headers`, `filter` …
        """
        return self.send(self._calls.create_webhook(url, events, fields))

    def list_webhooks(
        self, *, limit: int = 50, cursor: str | None = None, enabled: bool | None = None
    ) -> Page[Webhook]:
        return self.send(self._calls.list_webhooks(limit, cursor, enabled))

    def get_webhook(self, webhook_id: str) -> Webhook:
        return self.send(self._calls.get_webhook(webhook_id))

    def update_webhook(self, webhook_id: str, **changes: Any) -> Webhook:
        """Change the given fields; the others stay as they are."""
        return self.send(self._calls.update_webhook(webhook_id, changes))

    def delete_webhook(self, webhook_id: str) -> None:
        return self.send(self._calls.delete_webhook(webhook_id))

    def test_webhook(self, webhook_id: str, event_type: str | None = None) -> DeliveryDetail:
        """Send the event type's sample now (`live: false`); answers with the attempt."""
        return self.send(self._calls.test_webhook(webhook_id, event_type))

    def get_webhook_secret(self, webhook_id: str) -> str | None:
        return self.send(self._calls.get_webhook_secret(webhook_id))

    def rotate_webhook_secret(
        self,
        webhook_id: str,
        *,
        secret: str | None = None,
        grace_seconds: float | None = None,
    ) -> str | None:
        """Issue a new secret (generated when not given); the old one signs on for a grace."""
        return self.send(self._calls.rotate_webhook_secret(webhook_id, secret, grace_seconds))

    def get_public_key(self, webhook_id: str) -> PublicKey:
        """The `whpk_` keys an ed25519 webhook's receivers verify with."""
        return self.send(self._calls.get_public_key(webhook_id))

    # -- deliveries and recovery -------------------------------------------------

    def list_deliveries(
        self,
        *,
        webhook: str | None = None,
        event: str | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Delivery]:
        """Deliveries, newest first."""
        return self.send(self._calls.list_deliveries(webhook, event, status, limit, cursor))

    def get_delivery(self, delivery_id: str) -> DeliveryDetail:
        return self.send(self._calls.get_delivery(delivery_id))

    def list_attempts(self, delivery_id: str) -> list[Attempt]:
        """A delivery's attempts, oldest first."""
        return self.send(self._calls.list_attempts(delivery_id))

    def retry_delivery(self, delivery_id: str) -> DeliveryDetail:
        return self.send(self._calls.retry_delivery(delivery_id))

    def cancel_delivery(self, delivery_id: str) -> DeliveryDetail:
        """Cancel a pending or queued delivery (409 once it is sending or finished)."""
        return self.send(self._calls.cancel_delivery(delivery_id))

    def recover(
        self,
        webhook_id: str,
        since: datetime | str,
        until: datetime | str | None = None,
    ) -> Recovered:
        """Send again the webhook's failed deliveries created in [since, until)."""
        return self.send(self._calls.recover(webhook_id, since, until))
