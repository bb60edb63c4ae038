"""Render the HTTP request a delivery sends: body, headers and signature."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from functools import lru_cache

from hookd import __version__
from hookd.domain.envelope import envelope_from_raw
from hookd.domain.models import MASK, Webhook
from hookd.domain.signing import STANDARD, signature_headers
from hookd.store.records import StoredEvent

USER_AGENT = f"hookd/{__version__}"
BODYLESS_METHODS = frozenset({"GET", "DELETE"})


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    secret_headers: frozenset[str] = field(default_factory=frozenset)  # masked in logs


@lru_cache(maxsize=1)
def fqdn() -> str:
    """Return this machine's fully qualified name (looked up once)."""
    return socket.getfqdn()


def build_request(
    webhook: Webhook,
    event: StoredEvent,
    *,
    msg_id: str | None = None,
    now: float,
) -> OutgoingRequest:
    """Return the request for `event` to `webhook`, signed when it has a secret."""
    message_id = msg_id or event.id
    body = envelope_from_raw(
        event.id, event.type, event.timestamp, event.live, event.data_json.encode()
    )
    method = webhook.method
    if method in BODYLESS_METHODS:
        body = b""
    headers = {"user-agent": USER_AGENT}
    if body:
        headers["content-type"] = webhook.content_type
    headers.update(webhook.headers)
    if webhook.secret:
        headers.update(signature_headers([STANDARD], [webhook.secret], message_id, int(now), body))
    return OutgoingRequest(method=method, url=webhook.url, headers=headers, body=body)


def loggable_headers(request: OutgoingRequest) -> dict[str, str]:
    """Return the request headers fit for the attempt log: secret values masked."""
    return {
        k: (MASK if k.lower() in request.secret_headers else v) for k, v in request.headers.items()
    }
