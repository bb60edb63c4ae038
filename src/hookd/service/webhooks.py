"""Webhooks: validate what a user asks for, then store it."""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from typing import Any

from hookd import ids
from hookd.config import Settings
from hookd.delivery import batching
from hookd.domain import filter as filters
from hookd.domain import ordering, signing, template
from hookd.domain.matching import is_event_type_name, is_pattern
from hookd.domain.models import MASK, App, OldSecret, Webhook
from hookd.domain.secrets import is_secret_header
from hookd.domain.urlpolicy import validate_webhook_url
from hookd.errors import Invalid, NotFound
from hookd.service.audit import AuditService
from hookd.store import Store
from hookd.store.records import Page

METHODS = ("POST", "GET", "PUT", "PATCH", "DELETE")
MODES = ("immediate", "queued")
BATCH_ORDERS = ("chronological", "reverse")
MAX_BATCH_EVENTS = 10_000
MAX_OLD_SECRETS = 5  # rotations in quick succession keep at most this many signing
CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/plain")
MAX_DESCRIPTION_BYTES = 64 * 1024
MAX_EVENTS = 256
MAX_HEADERS = 64
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "content-type", "user-agent"}
    | signing.SIGNATURE_HEADERS
)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


class WebhookService:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._audit = AuditService(store)

    async def create(self, app: App, fields: dict[str, Any]) -> Webhook:
        """Create a webhook from validated API fields; a missing secret is generated."""
        now = time.time()
        if "secret" not in fields:
            fields["secret"] = signing.new_secret(_schemes(fields.get("signing")))
        checked = await self._check(app, fields)
        webhook = Webhook(
            id=ids.new_id("wh", now), app_id=app.id, created_at=now, updated_at=now, **checked
        )
        await self._store.webhooks.create(webhook)
        await self._audit.in_app(app, "webhook.create", webhook.id, checked)
        return webhook

    async def get(self, app: App, webhook_id: str) -> Webhook:
        found = await self._store.webhooks.get(app.id, webhook_id)
        if found is None:
            raise NotFound(f"webhook {webhook_id!r} not found")
        return found

    async def page(
        self, app: App, *, limit: int, after: str | None, enabled: bool | None = None
    ) -> Page:
        return await self._store.webhooks.page(app.id, limit=limit, after=after, enabled=enabled)

    async def update(self, app: App, webhook_id: str, changes: dict[str, Any]) -> Webhook:
        current = await self.get(app, webhook_id)
        if not changes:
            return current
        merged = {k: getattr(current, k) for k in _EDITABLE}
        if isinstance(changes.get("headers"), dict):
            # A masked value sent back unchanged (read, edit, write) keeps the stored secret.
            changes["headers"] = {
                k: current.headers.get(k, v)
                if v == MASK and is_secret_header(k, current.secret_headers)
                else v
                for k, v in changes["headers"].items()
            }
        if changes.get("ordering") in ("none", None) and "ordering" in changes:
            changes.setdefault("ordering_key", None)  # unordered: its lines go with it
        merged.update(changes)
        checked = await self._check(app, merged)
        wanted = {k: checked[k] for k in changes if k in checked}
        now = time.time()
        lined_up = checked["ordering"] == "fifo" and current.ordering != "fifo"
        if "mode" in wanted or "batch_interval" in wanted or lined_up:
            wanted["next_flush_at"] = batching.next_flush_at(
                checked["mode"],
                checked["batch_interval"],
                switched=current.mode == "queued" or lined_up,
                now=now,
            )
        updated = await self._store.webhooks.update(app.id, webhook_id, wanted, now)
        if updated is None:
            raise NotFound(f"webhook {webhook_id!r} not found")
        if lined_up:
            # What it was owed before joins one line, in order; the scheduler's
            # straggler check catches what a racing publish makes meanwhile.
            await self._store.deliveries.line_up(webhook_id)
        if current.mode == "queued" and updated.mode != "queued":
            # What waited for a flush goes now, in the batches it was queued for.
            await batching.flush_webhook(self._store, webhook_id)
        await self._audit.in_app(app, "webhook.update", webhook_id, changes)
        return updated

    async def draft(
        self, app: App, fields: dict[str, Any], *, pending_event_types: Collection[str] = ()
    ) -> Webhook:
        """Validate fields as `create` would, without storing: an unsaved webhook to preview.

        `pending_event_types` count as existing (a plan creates them before the webhook).
        """
        now = time.time()
        fields.setdefault("secret", signing.new_secret(_schemes(fields.get("signing"))))
        checked = await self._check(app, fields, pending_event_types)
        return Webhook(id="wh_preview", app_id=app.id, created_at=now, updated_at=now, **checked)

    async def rotate_secret(
        self, app: App, webhook_id: str, *, secret: str | None, grace_seconds: float
    ) -> Webhook:
        """Replace the secret; the old one keeps signing beside it for `grace_seconds`."""
        current = await self.get(app, webhook_id)
        new = _check_secret(secret or signing.new_secret(current.signing), current.signing)
        now = time.time()
        kept = [o for o in current.old_secrets if o.expires_at > now]
        if current.secret and grace_seconds > 0:
            kept.insert(0, OldSecret(current.secret, now + grace_seconds))
        changes = {"secret": new, "old_secrets": tuple(kept[:MAX_OLD_SECRETS])}
        updated = await self._store.webhooks.update(app.id, webhook_id, changes, now)
        if updated is None:
            raise NotFound(f"webhook {webhook_id!r} not found")
        await self._audit.in_app(app, "webhook.rotate_secret", webhook_id, ["secret"])
        return updated

    async def delete(self, app: App, webhook_id: str) -> None:
        if not await self._store.webhooks.delete(app.id, webhook_id):
            raise NotFound(f"webhook {webhook_id!r} not found")
        await self._audit.in_app(app, "webhook.delete", webhook_id)

    async def _check(
        self, app: App, fields: dict[str, Any], pending: Collection[str] = ()
    ) -> dict[str, Any]:
        """Return the fields normalised, or raise Invalid naming the first bad one."""
        out = {k: fields[k] for k in _EDITABLE if k in fields}
        out["url"] = self._check_url(fields.get("url"))
        out["events"] = tuple(await self._check_events(app, fields.get("events"), pending))
        method = str(fields.get("method") or "POST").upper()
        if method not in METHODS:
            raise Invalid("method", f"must be one of {', '.join(METHODS)}")
        out["method"] = method
        content_type = fields.get("content_type") or "application/json"
        if content_type not in CONTENT_TYPES:
            raise Invalid("content_type", f"must be one of {', '.join(CONTENT_TYPES)}")
        out["content_type"] = content_type
        description = fields.get("description") or ""
        if len(description.encode()) > MAX_DESCRIPTION_BYTES:
            raise Invalid("description", "must be at most 64 KiB")
        out["description"] = description
        # The 4me API's rule: the name defaults to the (first) event type.
        name = str(fields.get("name") or "").strip() or out["events"][0]
        if len(name) > 200:
            raise Invalid("name", "must be at most 200 characters")
        out["name"] = name
        out["headers"] = _check_headers(fields.get("headers") or {})
        out["mail_exceptions_to"] = _check_mail(fields.get("mail_exceptions_to") or "")
        out["filter"] = _check_filter(fields.get("filter"))
        out["body_template"] = _check_template(fields.get("body_template"), content_type)
        out["signing"] = _check_signing(fields.get("signing") or ("standard",))
        out["secret"] = _check_secret(fields.get("secret"), out["signing"])
        out["secret_headers"] = _check_secret_headers(
            fields.get("secret_headers") or (), out["headers"]
        )
        out["enabled"] = bool(fields.get("enabled", True))
        out.update(_check_limits(fields))
        out.update(_check_batching(fields))
        out.update(_check_ordering(fields, out["mode"]))
        return out

    def _check_url(self, url: object) -> str:
        if not isinstance(url, str) or not url:
            raise Invalid("url", "is required")
        try:
            checked = validate_webhook_url(
                url,
                dev=self._settings.dev,
                self_url=self._settings.base_url,
                allowed_networks=self._settings.allowed_targets,
            )
            # A template that does not compile would fail every delivery: refuse it now.
            template.check_url(checked)
        except ValueError as exc:  # TemplateError is one
            raise Invalid("url", str(exc)) from exc
        return checked

    async def _check_events(
        self, app: App, events: object, pending: Collection[str] = ()
    ) -> list[str]:
        if not isinstance(events, list | tuple) or not events:
            raise Invalid("events", "must list at least one event type or pattern")
        if len(events) > MAX_EVENTS:
            raise Invalid("events", f"must list at most {MAX_EVENTS} entries")
        names: list[str] = []
        for i, item in enumerate(events):
            if not isinstance(item, str) or not (is_pattern(item) or is_event_type_name(item)):
                raise Invalid(
                    f"events[{i}]",
                    f"{item!r} is not an event type (noun.verb) or pattern (noun.*)",
                )
            names.append(item)
        exact = [n for n in names if not is_pattern(n)]
        if exact:
            known = await self._store.event_types.names(app.id, exact) | set(pending)
            for i, name in enumerate(names):
                if name in exact and name not in known:
                    raise Invalid(f"events[{i}]", f"unknown event type {name!r}; create it first")
        return list(dict.fromkeys(names))


_EDITABLE = (
    "signing",
    "secret_headers",
    "disable_after_failures",
    "disable_after_seconds",
    "max_in_flight",
    "rate_limit",
    "mode",
    "batch_order",
    "batch_max_events",
    "batch_interval",
    "ordering",
    "ordering_key",
    "name",
    "description",
    "url",
    "events",
    "enabled",
    "method",
    "content_type",
    "headers",
    "body_template",
    "filter",
    "secret",
    "mail_exceptions_to",
)


def _check_headers(headers: object) -> dict[str, str]:
    if not isinstance(headers, dict):
        raise Invalid("headers", "must be an object of header names to values")
    if len(headers) > MAX_HEADERS:
        raise Invalid("headers", f"at most {MAX_HEADERS} headers")
    out: dict[str, str] = {}
    for name, value in headers.items():
        field = f"headers.{name}"
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise Invalid(field, "is not a valid header name")
        if name.lower() in RESERVED_HEADERS:
            raise Invalid(field, "is set by hookd and cannot be overridden")
        if not isinstance(value, str) or "\r" in value or "\n" in value or "\0" in value:
            raise Invalid(field, "must be a string without CR, LF or NUL")
        if len(value) > 8192:
            raise Invalid(field, "must be at most 8 KiB")
        try:
            template.check_text(value)
        except template.TemplateError as exc:
            raise Invalid(field, str(exc)) from exc
        out[name] = value
    return out


def _check_mail(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("mail_exceptions_to", "must be comma-separated e-mail addresses")
    addresses = [a.strip() for a in value.split(",") if a.strip()]
    for address in addresses:
        if not _EMAIL.match(address):
            raise Invalid("mail_exceptions_to", f"{address!r} is not an e-mail address")
    return ",".join(addresses)


def _check_filter(spec: object) -> dict[str, Any] | None:
    if spec is None or spec == {}:
        return None
    try:
        return filters.validate_filter(spec)
    except filters.FilterError as exc:
        raise Invalid(exc.path or "filter", exc.message) from exc


def _check_template(source: object, content_type: str) -> str | None:
    if source is None or source == "":
        return None
    if not isinstance(source, str):
        raise Invalid("body_template", "must be a string")
    try:
        template.compile_body(source, content_type=content_type)
    except template.TemplateError as exc:
        raise Invalid("body_template", str(exc)) from exc
    return source


def _check_secret(secret: object, schemes: tuple[str, ...]) -> str | None:
    if secret is None:
        return None
    if not isinstance(secret, str) or not secret.strip() or len(secret) > 1024:
        raise Invalid("secret", "must be a non-empty string (at most 1,024 characters) or null")
    try:
        if signing.STANDARD in schemes:
            signing.standard_key(secret)
        if signing.ED25519 in schemes:
            signing.ed25519_key(secret)
    except ValueError as exc:
        raise Invalid("secret", str(exc)) from exc
    return secret


def _schemes(given: object) -> tuple[str, ...]:
    """The schemes asked for, or the default, before they are checked."""
    return tuple(given) if isinstance(given, list | tuple) and given else ("standard",)


def _check_signing(schemes: object) -> tuple[str, ...]:
    if not isinstance(schemes, list | tuple) or not schemes:
        raise Invalid("signing", f"must list one or more of {', '.join(signing.SCHEMES)}")
    for i, scheme in enumerate(schemes):
        if scheme not in signing.SCHEMES:
            raise Invalid(f"signing[{i}]", f"must be one of {', '.join(signing.SCHEMES)}")
    if signing.STANDARD in schemes and signing.HMAC_BASE64 in schemes:
        # Both use a header spelled webhook-signature; receivers would see only one.
        raise Invalid("signing", "'standard' and 'hmac-sha256-base64' share a header; pick one")
    if signing.ED25519 in schemes and len(set(schemes)) > 1:
        # Its secret is a private key: no HMAC scheme can share it.
        raise Invalid("signing", "'ed25519' signs alone: its secret is a private key")
    return tuple(dict.fromkeys(schemes))


def _check_secret_headers(names: object, headers: dict[str, str]) -> tuple[str, ...]:
    if not isinstance(names, list | tuple):
        raise Invalid("secret_headers", "must list header names")
    known = {h.lower(): h for h in headers}
    out: list[str] = []
    for i, name in enumerate(names):
        if not isinstance(name, str) or name.lower() not in known:
            raise Invalid(f"secret_headers[{i}]", f"{name!r} is not one of the webhook's headers")
        out.append(known[name.lower()])
    return tuple(dict.fromkeys(out))


def _number(
    fields: dict[str, Any], name: str, low: float, high: float, *, integer: bool
) -> float | int | None:
    value = fields.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not float(value).is_integer())
    ):
        raise Invalid(name, "must be a whole number" if integer else "must be a number")
    if not low <= value <= high:
        raise Invalid(name, f"must be between {low:g} and {high:g}")
    return int(value) if integer else float(value)


def _check_limits(fields: dict[str, Any]) -> dict[str, Any]:
    in_flight = _number(fields, "max_in_flight", 1, 1000, integer=True)
    return {
        "disable_after_failures": _number(fields, "disable_after_failures", 1, 1e9, integer=True),
        "disable_after_seconds": _number(fields, "disable_after_seconds", 1, 1e9, integer=False),
        "max_in_flight": 10 if in_flight is None else in_flight,
        "rate_limit": _number(fields, "rate_limit", 0.001, 1e6, integer=False),
    }


def _check_ordering(fields: dict[str, Any], mode: str) -> dict[str, Any]:
    """Check `ordering` (none | fifo) and the key template of its lines."""
    order = fields.get("ordering") or "none"
    if order not in ordering.ORDERINGS:
        raise Invalid("ordering", f"must be one of {', '.join(ordering.ORDERINGS)}")
    if order == "fifo" and mode == "queued":
        raise Invalid("ordering", "fifo does not combine with mode queued (batches keep order)")
    key = fields.get("ordering_key")
    if key in (None, ""):
        key = None
    elif not isinstance(key, str):
        raise Invalid("ordering_key", "must be a string such as ${order.id}")
    elif order != "fifo":
        raise Invalid("ordering_key", 'needs "ordering": "fifo"')
    else:
        try:
            ordering.compile_key(key)
        except ordering.OrderingError as exc:
            raise Invalid("ordering_key", str(exc)) from exc
    return {"ordering": order, "ordering_key": key}


def _check_batching(fields: dict[str, Any]) -> dict[str, Any]:
    mode = fields.get("mode") or "immediate"
    if mode not in MODES:
        raise Invalid("mode", f"must be one of {', '.join(MODES)}")
    order = fields.get("batch_order") or "chronological"
    if order not in BATCH_ORDERS:
        raise Invalid("batch_order", f"must be one of {', '.join(BATCH_ORDERS)}")
    size = _number(fields, "batch_max_events", 1, MAX_BATCH_EVENTS, integer=True)
    return {
        "mode": mode,
        "batch_order": order,
        "batch_max_events": 100 if size is None else size,
        "batch_interval": _number(fields, "batch_interval", 1, 86400 * 7, integer=False),
    }
