"""Carry out a plan through the services the API uses, as the instance administrator."""

from __future__ import annotations

from pathlib import Path

from hookd.declarative.model import Config
from hookd.declarative.plan import Change, Plan, Services, make_plan
from hookd.declarative.refs import Resolver
from hookd.domain.models import App
from hookd.errors import HookdError
from hookd.service.auth import ADMIN

__all__ = ["ApplyError", "apply", "execute"]


class ApplyError(Exception):
    """A change the services refused while a plan was carried out; earlier ones stay made."""

    def __init__(self, change: Change, cause: HookdError) -> None:
        super().__init__(f"{change.action} {change.kind} {change.key}: {cause.message}")
        self.change = change
        self.cause = cause


async def apply(
    services: Services,
    config: Config,
    *,
    base: Path,
    dry_run: bool = False,
    prune: bool = False,
) -> Plan:
    """Plan the file against what exists and, unless `dry_run`, make it so."""
    plan = await make_plan(services, config, Resolver(base), prune=prune)
    if not dry_run:
        await execute(services, plan)
    return plan


async def execute(services: Services, plan: Plan) -> None:
    """Make each change in order: orgs, apps, event types, webhooks, then deletes."""
    orgs = dict(plan.org_ids)
    apps = dict(plan.apps)
    for change in plan.changes:
        try:
            await _make(services, change, orgs, apps)
        except HookdError as exc:
            raise ApplyError(change, exc) from exc


async def _make(s: Services, change: Change, orgs: dict[str, str], apps: dict[str, App]) -> None:
    p = change.payload
    if change.kind == "org":
        orgs[p["name"]] = (await s.people.create_org(ADMIN, p["name"])).id
        return
    if change.kind == "app":
        org_id = p["org_id"] or orgs[p["org_name"]]
        if change.action == "create":
            apps[p["uid"]] = await s.apps.create(ADMIN, p["uid"], p["name"], org_id)
        else:
            apps[p["uid"]] = await s.apps.update(
                ADMIN, apps[p["uid"]], name=p["name"], org_id=org_id
            )
        return
    assert change.app is not None
    app = apps[change.app]
    if change.kind == "event type":
        if change.action == "create":
            await s.event_types.create(app, p["name"], p["group"], p["description"], p["sample"])
        elif change.action == "update":
            assert change.target is not None
            await s.event_types.update(app, change.target, dict(p))
        else:
            assert change.target is not None
            await s.event_types.delete(app, change.target)
        return
    if change.action == "create":
        await s.webhooks.create(app, dict(p))
    elif change.action == "update":
        assert change.target is not None
        await s.webhooks.update(app, change.target, dict(p))
    else:
        assert change.target is not None
        await s.webhooks.delete(app, change.target)
