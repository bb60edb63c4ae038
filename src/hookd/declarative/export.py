"""Today's orgs, apps, event types and webhooks as a file `hookd apply` accepts.

Secrets are never written: a webhook's signing secret and its secret headers
become `{env: NAME}` references, with the names listed so they can be set
(or the references changed to `{file: path}`) before the file is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from hookd.declarative.model import DEFAULT_APP, WebhookSpec
from hookd.declarative.plan import WEBHOOK_FIELDS, Services
from hookd.declarative.refs import env_name
from hookd.domain import operational
from hookd.domain.models import App, EventType, Webhook
from hookd.domain.people import DEFAULT_ORG_ID, Org
from hookd.domain.secrets import is_secret_header
from hookd.service.auth import ADMIN
from hookd.service.event_types import DEFAULT_SAMPLE

__all__ = ["Exported", "export", "to_yaml"]

_ALWAYS = ("name", "url", "events")  # written even when they equal a default


@dataclass(slots=True)
class Exported:
    data: dict[str, Any]
    env: list[str] = field(default_factory=list)  # variables the references name, in order


async def export(services: Services) -> Exported:
    """Return every org, app, event type and webhook as config-file data."""
    out = Exported({"version": 1, "orgs": [], "apps": [], "event_types": [], "webhooks": []})
    orgs = await services.people.orgs(ADMIN)
    named: dict[str, int] = {}
    for org in orgs:
        named[org.name] = named.get(org.name, 0) + 1
    out.data["orgs"] = [{"name": o.name} for o in orgs if o.id != DEFAULT_ORG_ID]
    for access in await services.people.apps(ADMIN):
        app = access.app
        out.data["apps"].append(_app(app, orgs, named))
        for et in await services.event_types.all(app):
            if not _stock(et):
                out.data["event_types"].append(_event_type(app, et))
        hooks = await _webhooks(services, app)
        names = [h.name for h in hooks]
        for hook in hooks:
            out.data["webhooks"].append(_webhook(app, hook, names.count(hook.name) > 1, out))
    for section in ("orgs", "event_types", "webhooks"):
        if not out.data[section]:
            del out.data[section]
    return out


def to_yaml(exported: Exported) -> str:
    """Render exported data as YAML, headed by how to apply it."""
    head = ["# hookd config: apply with `hookd apply -f FILE` (see docs/config-as-code.md)."]
    if exported.env:
        head.append("# Secrets are references. Set these before applying (or point to files):")
        head += [f"#   {name}" for name in exported.env]
    body = yaml.safe_dump(exported.data, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(head) + "\n" + body


def _app(app: App, orgs: list[Org], named: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {"uid": app.uid}
    if app.name != app.uid:
        out["name"] = app.name
    if app.org_id != DEFAULT_ORG_ID:
        org = next((o for o in orgs if o.id == app.org_id), None)
        # A name two orgs share cannot say which; the id can.
        out["org"] = org.name if org is not None and named[org.name] == 1 else app.org_id
    return out


def _stock(et: EventType) -> bool:
    """Whether this is one of hookd's own event types, as every app gets it."""
    if et.name not in operational.EVENT_TYPES:
        return False
    stock = next(e for e in operational.catalogue(et.app_id, 0.0) if e.name == et.name)
    return (et.group, et.description, et.sample) == (stock.group, stock.description, stock.sample)


def _event_type(app: App, et: EventType) -> dict[str, Any]:
    out: dict[str, Any] = {"app": app.uid, "name": et.name}
    if et.group:
        out["group"] = et.group
    if et.description:
        out["description"] = et.description
    if et.sample != DEFAULT_SAMPLE:
        out["sample"] = et.sample
    return out


async def _webhooks(services: Services, app: App) -> list[Webhook]:
    hooks: list[Webhook] = []
    after = None
    while True:
        page = await services.webhooks.page(app, limit=500, after=after)
        hooks += page.items
        if page.next_cursor is None:
            return hooks
        after = page.next_cursor


def _webhook(app: App, hook: Webhook, ambiguous: bool, out: Exported) -> dict[str, Any]:
    spec: dict[str, Any] = {"app": app.uid} if app.uid != DEFAULT_APP else {}
    spec["name"] = hook.name
    if ambiguous:
        spec["id"] = hook.id  # names repeat in this app: match this one by id
    defaults = WebhookSpec.model_fields
    for name in WEBHOOK_FIELDS:
        value = getattr(hook, name)
        plain = list(value) if isinstance(value, tuple) else value
        if name not in _ALWAYS and plain == defaults[name].get_default(call_default_factory=True):
            continue
        if name == "headers":
            plain = {k: _header(app, hook, k, v, out) for k, v in value.items()}
        spec[name] = plain
    if hook.secret is None:
        spec["secret"] = None
    else:
        spec["secret"] = {"env": _reference(out, "HOOKD_SECRET", app.uid, hook.name)}
    return spec


def _header(app: App, hook: Webhook, name: str, value: str, out: Exported) -> Any:
    if not is_secret_header(name, hook.secret_headers):
        return value
    return {"env": _reference(out, "HOOKD_HEADER", app.uid, hook.name, name)}


def _reference(out: Exported, *parts: str) -> str:
    """A variable name for one secret, unique in this export."""
    base = env_name(*parts)
    name, n = base, 2
    while name in out.env:
        name, n = f"{base}_{n}", n + 1
    out.env.append(name)
    return name
