"""The event catalog, the members of an app, and the app's portal links."""

from __future__ import annotations

import json

from fastapi import APIRouter
from starlette.responses import Response

from hookd.console.pages import ConsoleRoute, Page, PageDep
from hookd.console.webhook_pages import base
from hookd.domain.models import App
from hookd.domain.roles import Action, AppRole
from hookd.errors import Conflict, Forbidden, Invalid, NotFound

router = APIRouter(prefix="/console/apps/{ref}", route_class=ConsoleRoute, include_in_schema=False)


# event catalog -------------------------------------------------------------


async def _catalog(
    page: Page, app: App, form: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> Response:
    types = await page.rt.event_types.all(app)
    grouped: dict[str, list[tuple[object, str]]] = {}
    for et in types:
        grouped.setdefault(et.group or "Other events", []).append(
            (et, json.dumps(et.sample, indent=2, ensure_ascii=False))
        )
    return page.render(
        "catalog.html",
        http_status=422 if errors else 200,
        app=app,
        base=base(page, app),
        grouped=sorted(grouped.items()),
        can_change=await page.may(app, Action.CHANGE),
        form=form or {"name": "", "group": "", "description": "", "sample": ""},
        errors=errors or {},
    )


@router.get("/event-types")
async def catalog(ref: str, page: PageDep) -> Response:
    return await _catalog(page, await page.app(ref))


@router.post("/event-types")
async def add_event_type(ref: str, page: PageDep) -> Response:
    app = await page.app(ref, Action.CHANGE)
    posted = await page.form()
    form = {k: str(posted.get(k, "")).strip() for k in ("name", "group", "description", "sample")}
    errors: dict[str, str] = {}
    sample = None
    if form["sample"]:
        try:
            sample = json.loads(form["sample"])
        except ValueError as exc:
            errors["sample"] = f"Enter the sample as JSON ({exc.args[0]})"
        else:
            if not isinstance(sample, dict):
                errors["sample"] = 'Enter the sample as a JSON object, like {"id": 1}'
    if not form["name"]:
        errors["name"] = "Enter the event type's name, like job.success"
    if not errors:
        try:
            await page.rt.event_types.create(
                app, form["name"], form["group"], form["description"], sample
            )
        except Invalid as exc:
            errors[exc.field if exc.field in form else "name"] = exc.message.split(": ", 1)[-1]
        except Conflict as exc:
            errors["name"] = exc.message
        else:
            return page.redirect(f"{base(page, app)}/event-types", "Event type added")
    return await _catalog(page, app, form, errors)


# members -------------------------------------------------------------------


async def _members(page: Page, app: App, error: str | None = None) -> Response:
    who = await page.caller()
    members = await page.rt.people.app_members(who, app.id)
    return page.render(
        "members.html",
        http_status=422 if error else 200,
        app=app,
        base=base(page, app),
        members=members,
        roles=[r.value for r in AppRole],
        can_manage=await page.may(app, Action.MANAGE_MEMBERS),
        links=await _links(page, app),
        error=error,
    )


async def _links(page: Page, app: App) -> list[object] | None:
    try:
        return list(await page.rt.portal.links(await page.caller(), app.id))
    except (Forbidden, NotFound):
        return None


@router.get("/members")
async def members(ref: str, page: PageDep) -> Response:
    return await _members(page, await page.app(ref))


async def _user_id(page: Page, app: App, given: str) -> str | None:
    """Find a user by id, or by e-mail among those the caller may see."""
    if given.startswith("usr_"):
        return given
    who = await page.caller()
    email = given.lower()
    if who.admin:
        for user in await page.rt.people.users(who, 250, None):
            if user.email == email:
                return user.id
    try:
        for member in await page.rt.people.org_members(who, app.org_id):
            if member.user.email == email:
                return member.user.id
    except (Forbidden, NotFound):
        pass
    return None


@router.post("/members")
async def set_member(ref: str, page: PageDep) -> Response:
    app = await page.app(ref, Action.MANAGE_MEMBERS)
    form = await page.form()
    given = str(form.get("user", "")).strip()
    role = str(form.get("role", ""))
    if role not in {r.value for r in AppRole}:
        return await _members(page, app, "Choose the role: owner or viewer")
    user_id = await _user_id(page, app, given) if given else None
    if user_id is None:
        return await _members(
            page, app, "Enter the e-mail of a member of the app's organization, or a user id"
        )
    try:
        await page.rt.people.set_app_member(await page.caller(), app.id, user_id, AppRole(role))
    except NotFound:
        return await _members(page, app, f"No user {given!r}")
    return page.redirect(f"{base(page, app)}/members", "Member saved")


@router.post("/members/{user_id}/remove")
async def remove_member(ref: str, user_id: str, page: PageDep) -> Response:
    app = await page.app(ref, Action.MANAGE_MEMBERS)
    await page.form()
    await page.rt.people.remove_app_member(await page.caller(), app.id, user_id)
    return page.redirect(f"{base(page, app)}/members", "Member removed")


# portal links ---------------------------------------------------------------


@router.post("/portal-links")
async def create_portal_link(ref: str, page: PageDep) -> Response:
    app = await page.app(ref)
    form = await page.form()
    try:
        hours = float(str(form.get("hours") or "1"))
        link, token = await page.rt.portal.create(
            await page.caller(),
            app.id,
            expires_in=hours * 3600,
            frame_origin=str(form.get("frame_origin") or "") or None,
        )
    except (ValueError, Invalid) as exc:
        message = exc.message if isinstance(exc, Invalid) else "Enter the hours as a number"
        return await _members(page, app, message)
    url = f"{page.rt.settings.base_url}/console/portal/{token}"
    return page.render("portal_link.html", app=app, base=base(page, app), link=link, url=url)


@router.post("/portal-links/{link_id}/revoke")
async def revoke_portal_link(ref: str, link_id: str, page: PageDep) -> Response:
    app = await page.app(ref)
    await page.form()
    await page.rt.portal.revoke(await page.caller(), app.id, link_id)
    return page.redirect(f"{base(page, app)}/members", "Portal link revoked")
