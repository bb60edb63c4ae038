"""Render the HTTP request a delivery sends: URL, body, headers and signatures.

Without a template the body is the standard envelope. With `body_template`
(and `${…}` in the URL or header values) the request is rendered in the
sandbox against the event's data plus `event`, `webhook`, `app` and `system`.
A batch (queued mode) renders `{type: [data, …]}`, or the template with
`events` and `by_type` in its context. GET and DELETE carry no body.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hookd import __version__
from hookd.domain import jsonlimits, template
from hookd.domain.envelope import envelope_from_raw, rfc3339
from hookd.domain.models import MASK, Webhook
from hookd.domain.secrets import is_secret_header
from hookd.domain.signing import signature_headers

if TYPE_CHECKING:  # not at run time: render processes stay small (delivery/rendering.py)
    from hookd.config import Settings
    from hookd.store.records import StoredEvent

USER_AGENT = f"hookd/{__version__}"
BODYLESS_METHODS = frozenset({"GET", "DELETE"})
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


class RenderError(Exception):
    """The request could not be rendered; recorded as a failed attempt (`template_error`)."""


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    secret_headers: frozenset[str] = field(default_factory=frozenset)  # lower-case names


@lru_cache(maxsize=1)
def machine_name() -> str:
    """Return this machine's fully qualified name (looked up once)."""
    return socket.getfqdn()


@dataclass(frozen=True, slots=True)
class System:
    """What templates see as `system`: this hookd."""

    url: str
    fqdn: str = field(default_factory=machine_name)
    version: str = __version__
    # How much one render may produce and take; not shown to templates.
    max_bytes: int = template.MAX_OUTPUT
    max_seconds: float = template.MAX_SECONDS
    # Where renders run (delivery/rendering.py); not shown to templates either.
    render_processes: int = 2
    renders_per_app: int = 1

    @classmethod
    def for_settings(cls, settings: Settings) -> System:
        """Name hookd by its public URL's host when one is configured, else by the machine."""
        host = urlsplit(settings.public_url).hostname if settings.public_url else None
        return cls(
            url=settings.base_url,
            fqdn=host or machine_name(),
            max_bytes=settings.template_max_bytes,
            max_seconds=settings.template_max_seconds,
            render_processes=settings.template_processes,
            renders_per_app=settings.template_renders_per_app,
        )

    def as_dict(self) -> dict[str, str]:
        return {"url": self.url, "fqdn": self.fqdn, "version": self.version}


def needs_rendering(webhook: Webhook) -> bool:
    """Tell whether building this webhook's request runs templates (worth a thread)."""
    return bool(
        webhook.body_template
        or "${" in webhook.url
        or any("${" in v for v in webhook.headers.values())
    )


def build_request(
    webhook: Webhook, event: StoredEvent, *, now: float, system: System, app: str = ""
) -> OutgoingRequest:
    """Return the request for one event; raise RenderError if a template fails."""
    context: dict[str, Any] | None = None
    if needs_rendering(webhook):
        data = jsonlimits.loads(event.data_json)  # integers beyond 64 bits exactly
        context = template.make_context(
            data if isinstance(data, dict) else {},
            event=_event_info(event),
            webhook={"id": webhook.id, "name": webhook.name},
            app=app or webhook.app_id,
            system=system.as_dict(),
        )
    if webhook.body_template:
        assert context is not None
        body = _render_body(webhook, context, system)
    else:
        body = _default_body(webhook, event)
    return _finish(webhook, body, msg_id=event.id, now=now, context=context, system=system)


def build_batch_request(
    webhook: Webhook,
    batch_id: str,
    events: Sequence[StoredEvent],
    *,
    now: float,
    system: System,
    app: str = "",
) -> OutgoingRequest:
    """Return one request carrying `events` (already in the webhook's batch order)."""
    items = [(e, jsonlimits.loads(e.data_json)) for e in events]
    by_type: dict[str, list[Any]] = {}
    for event, data in items:
        by_type.setdefault(event.type, []).append(data)
    context: dict[str, Any] | None = None
    if needs_rendering(webhook):
        context = {
            "events": [{**_event_info(e), "data": d} for e, d in items],
            "by_type": by_type,
            "batch": {"id": batch_id, "size": len(items)},
            "event": {"id": batch_id, "type": "batch", "timestamp": rfc3339(now), "live": True},
            "webhook": {"id": webhook.id, "name": webhook.name},
            "app": app or webhook.app_id,
            "system": system.as_dict(),
        }
    if webhook.body_template:
        assert context is not None
        body = _render_body(webhook, context, system)
    else:
        body = jsonlimits.dumps(by_type).encode()
    return _finish(webhook, body, msg_id=batch_id, now=now, context=context, system=system)


def _event_info(event: StoredEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "timestamp": rfc3339(event.timestamp),
        "live": event.live,
    }


def _default_body(webhook: Webhook, event: StoredEvent) -> bytes:
    body = envelope_from_raw(
        event.id, event.type, event.timestamp, event.live, event.data_json.encode()
    )
    if webhook.content_type == FORM:
        # A form cannot nest: top-level fields, with `data` as JSON text.
        return template.form_encode(body.decode()).encode()
    return body


def _render_body(webhook: Webhook, context: dict[str, Any], system: System) -> bytes:
    assert webhook.body_template is not None
    try:
        compiled = template.compile_body(
            webhook.body_template,
            content_type=webhook.content_type,
            max_output=system.max_bytes,
            max_seconds=system.max_seconds,
        )
        return compiled.render(context).encode()
    except template.TemplateError as exc:
        raise RenderError(f"body_template: {exc}") from exc


def _finish(
    webhook: Webhook,
    body: bytes,
    *,
    msg_id: str,
    now: float,
    context: dict[str, Any] | None,
    system: System,
) -> OutgoingRequest:
    method = webhook.method
    if method in BODYLESS_METHODS:
        body = b""
    url = webhook.url
    headers = {"user-agent": USER_AGENT}
    if body:
        headers["content-type"] = webhook.content_type
    if context is not None:
        try:
            if "${" in url:
                url = template.render_url(
                    url, context, max_output=system.max_bytes, max_seconds=system.max_seconds
                )
            custom = {
                k: template.render_text(
                    v, context, max_output=system.max_bytes, max_seconds=system.max_seconds
                )
                for k, v in webhook.headers.items()
            }
        except template.TemplateError as exc:
            raise RenderError(f"url or headers: {exc}") from exc
        for name, value in custom.items():
            if "\r" in value or "\n" in value:
                raise RenderError(f"header {name}: rendered value contains CR or LF")
    else:
        custom = dict(webhook.headers)
    headers.update(custom)
    headers.update(
        signature_headers(webhook.signing, webhook.signing_secrets(now), msg_id, int(now), body)
    )
    return OutgoingRequest(
        method=method,
        url=url,
        headers=headers,
        body=body,
        secret_headers=frozenset(h.lower() for h in webhook.secret_headers),
    )


def loggable_headers(request: OutgoingRequest) -> dict[str, str]:
    """Return the request headers fit for the attempt log: secret values masked."""
    return {
        k: (MASK if is_secret_header(k, request.secret_headers) else v)
        for k, v in request.headers.items()
    }
