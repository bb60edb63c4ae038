"""The members of an organization: its owners add, change and remove them."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from hookd.console.pages import ConsoleRoute, Page, PageDep
from hookd.domain.people import Org
from hookd.domain.roles import OrgRole
from hookd.errors import Conflict, Forbidden, NotFound

router = APIRouter(
    prefix="/console/orgs/{org_id}", route_class=ConsoleRoute, include_in_schema=False
)


async def _page(page: Page, org: Org, error: str | None = None) -> Response:
    who = await page.caller()
    members = await page.rt.people.org_members(who, org.id)
    try:
        await page.rt.auth.org(who, org.id, manage=True)
        can_manage = True
    except Forbidden:
        can_manage = False
    return page.render(
        "org_members.html",
        http_status=422 if error else 200,
        org=org,
        members=members,
        roles=[r.value for r in OrgRole],
        can_manage=can_manage,
        error=error,
    )


@router.get("/members")
async def org_members(org_id: str, page: PageDep) -> Response:
    if page.session.portal:
        raise NotFound(f"org {org_id!r} not found")
    return await _page(page, await page.rt.people.org(await page.caller(), org_id))


@router.post("/members")
async def set_org_member(org_id: str, page: PageDep) -> Response:
    who = await page.caller()
    org = await page.rt.auth.org(who, org_id, manage=True)
    form = await page.form()
    given = str(form.get("user", "")).strip()
    role = str(form.get("role", ""))
    if role not in {r.value for r in OrgRole}:
        return await _page(page, org, "Choose the role: owner, member or viewer")
    user_id = given if given.startswith("usr_") else None
    if user_id is None and who.admin:
        email = given.lower()
        found = [u for u in await page.rt.people.users(who, 250, None) if u.email == email]
        user_id = found[0].id if found else None
    if user_id is None:
        return await _page(page, org, "Enter a user id (usr_…), or, as administrator, an e-mail")
    try:
        await page.rt.people.set_org_member(who, org.id, user_id, OrgRole(role))
    except NotFound:
        return await _page(page, org, f"No user {given!r}")
    except Conflict as exc:
        return await _page(page, org, exc.message)
    return page.redirect(f"/console/orgs/{org.id}/members", "Member saved")


@router.post("/members/{user_id}/remove")
async def remove_org_member(org_id: str, user_id: str, page: PageDep) -> Response:
    who = await page.caller()
    org = await page.rt.auth.org(who, org_id, manage=True)
    await page.form()
    try:
        await page.rt.people.remove_org_member(who, org.id, user_id)
    except Conflict as exc:
        return await _page(page, org, exc.message)
    return page.redirect(f"/console/orgs/{org.id}/members", "Member removed")
