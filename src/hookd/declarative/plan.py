"""What `hookd apply` would change: create, update or delete, object by object, field by field.

A plan is made in full before anything changes: every webhook in the file is
validated by the webhook service (`draft`), as the API would validate it, and
every referenced secret is read. Any problem stops the plan, naming its path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hookd.config import Settings
from hookd.declarative.model import (
    Config,
    ConfigError,
    Problem,
    SecretRef,
    WebhookSpec,
)
from hookd.declarative.refs import Resolver
from hookd.domain import operational
from hookd.domain.matching import is_pattern
from hookd.domain.models import MASK, App, EventType, Webhook
from hookd.domain.people import DEFAULT_ORG_ID, Org
from hookd.domain.secrets import is_secret_header
from hookd.errors import Invalid
from hookd.service.apps import AppService
from hookd.service.audit import AuditService
from hookd.service.auth import ADMIN, Auth
from hookd.service.event_types import DEFAULT_SAMPLE, EventTypeService
from hookd.service.people import PeopleService
from hookd.service.webhooks import WebhookService
from hookd.store import Store

__all__ = ["WEBHOOK_FIELDS", "Change", "FieldChange", "Plan", "Services", "make_plan"]

# The webhook settings a file manages, compared one by one (the secret apart).
WEBHOOK_FIELDS = tuple(f for f in WebhookSpec.model_fields if f not in ("app", "id", "secret"))
_EVENT_TYPE_FIELDS = ("group", "description", "sample")
_SHOWN = 120  # characters of a value shown in a diff


@dataclass(frozen=True, slots=True)
class Services:
    """The services the API uses, acting as the instance administrator."""

    people: PeopleService
    apps: AppService
    event_types: EventTypeService
    webhooks: WebhookService

    @classmethod
    def of(cls, store: Store, settings: Settings) -> Services:
        auth, audit = Auth(store, None), AuditService(store)
        return cls(
            PeopleService(store, auth, audit),
            AppService(store, auth, audit),
            EventTypeService(store),
            WebhookService(store, settings),
        )


@dataclass(frozen=True, slots=True)
class FieldChange:
    name: str
    old: Any
    new: Any
    secret: bool = False  # shown without its values
    note: str | None = None  # shown instead of the values

    def __str__(self) -> str:
        if self.note is not None:
            return f"{self.name}: {self.note}"
        if self.secret:
            if self.new is None:
                return f"{self.name}: (removed)"
            return f"{self.name}: {'(set)' if self.old is None else '(changed)'}"
        if self.old is None and self.new is not None:
            return f"{self.name}: {_show(self.new)}"
        return f"{self.name}: {_show(self.old)} -> {_show(self.new)}"


@dataclass(frozen=True, slots=True)
class Change:
    action: str  # create | update | delete
    kind: str  # org | app | event type | webhook
    key: str  # Acme | billing | billing/invoice.paid | billing/ledger
    fields: tuple[FieldChange, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict)  # what the service is given
    app: str | None = None  # the app's uid, for event types and webhooks
    target: str | None = None  # the existing object: a webhook id, an event type name

    def lines(self) -> list[str]:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        return [f"{sign} {self.action} {self.kind} {self.key}"] + [f"    {f}" for f in self.fields]


@dataclass(slots=True)
class Plan:
    changes: list[Change]
    org_ids: dict[str, str]  # org name -> id, for orgs that exist and are named once
    apps: dict[str, App]  # uid -> app, for apps that exist
    kept: int = 0  # objects in the file's apps but not in the file, kept without --prune
    notes: list[str] = field(default_factory=list)  # what apply leaves alone, and why

    @property
    def empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "delete": 0}
        for change in self.changes:
            out[change.action] += 1
        return out

    def summary(self) -> str:
        if self.empty:
            return "no changes"
        n = self.counts()
        return f"{n['create']} to create, {n['update']} to update, {n['delete']} to delete"


async def make_plan(
    services: Services, config: Config, resolver: Resolver, *, prune: bool = False
) -> Plan:
    """Compare the file with what exists; raise ConfigError naming every problem."""
    planner = _Planner(services, config, resolver, prune)
    return await planner.run()


class _Planner:
    def __init__(self, services: Services, config: Config, resolver: Resolver, prune: bool):
        self.s = services
        self.config = config
        self.resolver = resolver
        self.prune = prune
        self.problems: list[Problem] = []
        self.creates: list[Change] = []
        self.deletes: list[Change] = []
        self.orgs: list[Org] = []
        self.apps: dict[str, App] = {}
        self.planned_apps: dict[str, App] = {}
        self.event_types: dict[str, list[EventType]] = {}
        self.hooks: dict[str, list[Webhook]] = {}
        self.claimed: dict[str, int] = {}  # webhook id -> index of the spec that matched it
        self.subscribed: list[tuple[str, str, tuple[str, ...]]] = []  # (path, app, events)
        self.notes: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    async def run(self) -> Plan:
        self.orgs = await self.s.people.orgs(ADMIN)
        self.apps = {a.app.uid: a.app for a in await self.s.people.apps(ADMIN)}
        self._plan_orgs()
        self._plan_apps()
        for uid in self._scope(existing_only=False):
            await self._load(uid)
        self._plan_event_types()
        await self._plan_webhooks()
        kept = self._plan_deletes()
        problems = self.problems + self.resolver.problems
        if problems:
            raise ConfigError(list(dict.fromkeys(problems)))
        org_ids = {}
        for org in self.orgs:
            org_ids[org.name] = org.id if org.name not in org_ids else ""
        return Plan(
            self.creates + self.deletes,
            {k: v for k, v in org_ids.items() if v},
            dict(self.apps),
            kept=kept,
            notes=self.notes,
        )

    # orgs and apps -------------------------------------------------------

    def _named(self, name: str) -> list[Org]:
        return [o for o in self.orgs if o.name == name]

    def _plan_orgs(self) -> None:
        for spec in self.config.orgs:
            if not self._named(spec.name):
                self.creates.append(Change("create", "org", spec.name, payload={"name": spec.name}))

    def _org(self, ref: str | None, path: str) -> tuple[str | None, str]:
        """Return (id, or None for an org this plan creates; its name) of an app's org."""
        if ref is None:
            ref = DEFAULT_ORG_ID
        named = self._named(ref)
        if len(named) > 1:
            self.problem(path, f"{len(named)} orgs are named {ref!r}; give the org's id")
            return "", ref
        if named:
            return named[0].id, ref
        by_id = next((o for o in self.orgs if o.id == ref), None)
        if by_id is not None:
            return by_id.id, by_id.name
        if any(o.name == ref for o in self.config.orgs):
            return None, ref
        self.problem(path, f"no org {ref!r}; list it under orgs")
        return "", ref

    def _org_name(self, org_id: str) -> str:
        return next((o.name for o in self.orgs if o.id == org_id), org_id)

    def _plan_apps(self) -> None:
        for i, spec in enumerate(self.config.apps):
            org_id, org_name = self._org(spec.org, f"apps[{i}].org")
            name = spec.name or spec.uid
            payload = {"uid": spec.uid, "name": name, "org_id": org_id, "org_name": org_name}
            current = self.apps.get(spec.uid)
            if current is None:
                fields = (FieldChange("name", None, name), FieldChange("org", None, org_name))
                self.creates.append(Change("create", "app", spec.uid, fields, payload))
                self.planned_apps[spec.uid] = App(
                    id=f"app_planned_{spec.uid}", uid=spec.uid, name=name, created_at=0.0
                )
                continue
            changed = []
            if current.name != name:
                changed.append(FieldChange("name", current.name, name))
            if org_id != current.org_id and org_id != "":
                changed.append(FieldChange("org", self._org_name(current.org_id), org_name))
            if changed:
                self.creates.append(Change("update", "app", spec.uid, tuple(changed), payload))

    def _scope(self, *, existing_only: bool) -> list[str]:
        """The apps the file speaks of: listed, or named by an event type or webhook."""
        uids = [a.uid for a in self.config.apps]
        uids += [e.app for e in self.config.event_types] + [w.app for w in self.config.webhooks]
        known = self.apps if existing_only else {**self.apps, **self.planned_apps}
        return [uid for uid in dict.fromkeys(uids) if uid in known]

    def _app(self, uid: str, path: str) -> App | None:
        found = self.apps.get(uid) or self.planned_apps.get(uid)
        if found is None:
            self.problem(path, f"no app {uid!r}; list it under apps")
        return found

    async def _load(self, uid: str) -> None:
        app = self.apps.get(uid)
        if app is None:  # a new app starts with hookd's own event types, and nothing else
            self.event_types[uid] = operational.catalogue(self.planned_apps[uid].id, 0.0)
            self.hooks[uid] = []
            return
        self.event_types[uid] = await self.s.event_types.all(app)
        hooks: list[Webhook] = []
        after = None
        while True:
            page = await self.s.webhooks.page(app, limit=500, after=after)
            hooks += page.items
            if page.next_cursor is None:
                break
            after = page.next_cursor
        self.hooks[uid] = hooks

    # event types ---------------------------------------------------------

    def _plan_event_types(self) -> None:
        for i, spec in enumerate(self.config.event_types):
            if self._app(spec.app, f"event_types[{i}].app") is None:
                continue
            key = f"{spec.app}/{spec.name}"
            wanted = {
                "group": spec.group,
                "description": spec.description,
                "sample": spec.sample if spec.sample is not None else dict(DEFAULT_SAMPLE),
            }
            current = next((e for e in self.event_types[spec.app] if e.name == spec.name), None)
            if current is None:
                fields = tuple(FieldChange(k, None, v) for k, v in wanted.items() if v)
                payload = {"name": spec.name, **wanted}
                self.creates.append(Change("create", "event type", key, fields, payload, spec.app))
                continue
            changed = {k: v for k, v in wanted.items() if getattr(current, k) != v}
            if changed:
                fields = tuple(FieldChange(k, getattr(current, k), v) for k, v in changed.items())
                self.creates.append(
                    Change("update", "event type", key, fields, changed, spec.app, spec.name)
                )

    # webhooks ------------------------------------------------------------

    async def _plan_webhooks(self) -> None:
        specs = list(enumerate(self.config.webhooks))
        # Those naming an id claim their webhook first, so a name match never takes it.
        for i, spec in sorted(specs, key=lambda s: s[1].id is None):
            path = f"webhooks[{i}]"
            app = self._app(spec.app, f"{path}.app")
            if app is None:
                continue
            current = self._match(i, spec, path)
            fields = self._fields(spec, path, current)
            pending = {e.name for e in self.config.event_types if e.app == spec.app}
            pending |= {e.name for e in self.event_types[spec.app]}
            try:
                desired = await self.s.webhooks.draft(
                    app, dict(fields), pending_event_types=pending
                )
            except Invalid as exc:
                message = exc.details[0]["message"] if exc.details else exc.message
                self.problem(f"{path}.{exc.field}", message)
                continue
            self.subscribed.append((path, spec.app, desired.events))
            key = f"{spec.app}/{spec.name}"
            if current is None:
                shown = tuple(
                    _field_change(f, None, desired, current)
                    for f in WEBHOOK_FIELDS
                    if f in spec.model_fields_set and f != "name"
                )
                if "secret" in fields:
                    unsigned = "none (unsigned)" if fields["secret"] is None else None
                    shown += (FieldChange("secret", None, "", secret=True, note=unsigned),)
                self.creates.append(Change("create", "webhook", key, shown, fields, spec.app))
                continue
            changed = [
                f
                for f in WEBHOOK_FIELDS
                if _plain(getattr(current, f)) != _plain(getattr(desired, f))
            ]
            shown = tuple(_field_change(f, getattr(current, f), desired, current) for f in changed)
            payload = {f: getattr(desired, f) for f in changed}
            if "secret" in fields and fields["secret"] != current.secret:
                payload["secret"] = fields["secret"]
                shown += (FieldChange("secret", current.secret, fields["secret"], secret=True),)
            if payload:
                self.creates.append(
                    Change("update", "webhook", key, shown, payload, spec.app, current.id)
                )

    def _match(self, i: int, spec: WebhookSpec, path: str) -> Webhook | None:
        hooks = self.hooks[spec.app]
        if spec.id is not None:
            found = next((w for w in hooks if w.id == spec.id), None)
            if found is None:
                self.problem(
                    f"{path}.id", f"no webhook {spec.id} in app {spec.app!r}; remove id to create"
                )
                return None
        else:
            named = [w for w in hooks if w.name == spec.name and w.id not in self.claimed]
            if len(named) > 1:
                self.problem(
                    f"{path}.name",
                    f"{len(named)} webhooks of app {spec.app!r} are named {spec.name!r};"
                    " add id: to say which",
                )
                return None
            if not named:
                return None
            found = named[0]
        if found.id in self.claimed:
            self.problem(path, f"matches the webhook webhooks[{self.claimed[found.id]}] matches")
            return None
        self.claimed[found.id] = i
        return found

    def _fields(self, spec: WebhookSpec, path: str, current: Webhook | None) -> dict[str, Any]:
        """The service's fields for this spec, with referenced secrets read."""
        out = spec.model_dump(exclude={"app", "id", "secret", "headers"})
        headers: dict[str, str] = {}
        referenced = []
        for name, value in spec.headers.items():
            if isinstance(value, SecretRef):
                headers[name] = self.resolver.value(value, f"{path}.headers.{name}") or "unread"
                referenced.append(name)
            else:
                headers[name] = value
        out["headers"] = headers
        # A value kept out of the file is a secret: mask it wherever hookd shows headers.
        out["secret_headers"] = list(
            dict.fromkeys(
                [*spec.secret_headers]
                + [n for n in referenced if not is_secret_header(n, spec.secret_headers)]
            )
        )
        if "secret" in spec.model_fields_set:
            if spec.secret is None:
                out["secret"] = None
            else:
                secret = self.resolver.value(spec.secret, f"{path}.secret")
                if secret is not None:
                    out["secret"] = secret
        elif current is not None:
            out["secret"] = current.secret  # unmanaged: checked against the schemes, kept
        if (
            current is not None
            and current.disabled_reason is not None
            and not current.enabled
            and "enabled" not in spec.model_fields_set
        ):
            # hookd disabled it for failing; a routine apply must not quietly undo that.
            out["enabled"] = False
            self.notes.append(
                f"webhook {spec.app}/{spec.name} was disabled by hookd"
                f" ({current.disabled_reason}); it stays disabled until the file says"
                " enabled: true"
            )
        return out

    # deletes -------------------------------------------------------------

    def _plan_deletes(self) -> int:
        """Plan deleting what the file's apps hold beyond the file (with prune); count it."""
        kept = 0
        pruned: dict[str, set[str]] = {}
        for uid in self._scope(existing_only=True):
            for hook in self.hooks[uid]:
                if hook.id in self.claimed:
                    continue
                kept += 1
                if self.prune:
                    key = f"{uid}/{hook.name}"
                    self.deletes.append(Change("delete", "webhook", key, app=uid, target=hook.id))
            listed = {e.name for e in self.config.event_types if e.app == uid}
            for et in self.event_types[uid]:
                if et.name in listed or et.name in operational.EVENT_TYPES:
                    continue
                kept += 1
                if self.prune:
                    pruned.setdefault(uid, set()).add(et.name)
                    key = f"{uid}/{et.name}"
                    self.deletes.append(
                        Change("delete", "event type", key, app=uid, target=et.name)
                    )
        for path, uid, events in self.subscribed:
            for j, name in enumerate(events):
                if not is_pattern(name) and name in pruned.get(uid, ()):
                    self.problem(
                        f"{path}.events[{j}]",
                        f"--prune would delete event type {name!r}; list it under event_types",
                    )
        return 0 if self.prune else kept


def _field_change(name: str, old: Any, desired: Webhook, current: Webhook | None) -> FieldChange:
    new = getattr(desired, name)
    if name == "headers":
        old = _masked(old, current.secret_headers) if current is not None else None
        new = _masked(new, desired.secret_headers)
        if old == new:
            return FieldChange(name, None, None, note="a secret header's value changed")
    return FieldChange(name, _plain(old), _plain(new))


def _masked(headers: dict[str, str] | None, listed: tuple[str, ...]) -> dict[str, str] | None:
    if headers is None:
        return None
    return {k: MASK if is_secret_header(k, listed) else v for k, v in headers.items()}


def _plain(value: Any) -> Any:
    """A value as JSON shows it, so a tuple and a list of the same items compare equal."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
