"""Sign in, sign out, the home page (your apps), and opening a portal link."""

from __future__ import annotations

import time

from fastapi import APIRouter

from hookd.console.pages import ConsoleRoute, PageDep

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)


def _safe_next(target: object) -> str:
    """Only go back to a console page of this site after signing in."""
    text = str(target or "")
    if text.startswith("/console") and not text.startswith("//") and "\\" not in text:
        return text
    return "/console"


@router.get("/login")
async def login_page(page: PageDep, next: str = "/console") -> object:
    return page.render("login.html", next=_safe_next(next), email="", error=None)


@router.post("/login")
async def login(page: PageDep) -> object:
    form = await page.form()
    email = str(form.get("email", "")).strip()
    password = str(form.get("password", ""))
    target = _safe_next(form.get("next"))
    user = await page.rt.people.authenticate(email, password) if email and password else None
    if user is None:
        return page.render(
            "login.html",
            http_status=401,
            next=target,
            email=email,
            error="The email or password is not right",
        )
    # A fresh session (and CSRF token) at sign-in, so a planted cookie is worth nothing.
    page.session = type(page.session)(user_id=user.id, changed=True)
    return page.redirect(target, f"Signed in as {user.email}")


@router.post("/logout")
async def logout(page: PageDep) -> object:
    await page.form()
    response = page.redirect("/console/login")
    page.sessions.end(response)
    return response


@router.get("")
async def home(page: PageDep) -> object:
    who = await page.caller()
    if page.session.portal:
        return page.redirect(f"/console/apps/{page.session.app_id}/webhooks")
    apps = await page.rt.people.apps(who)
    orgs = await page.rt.people.orgs(who)
    return page.render("home.html", apps=apps, orgs=orgs)


@router.get("/portal/{token}")
async def open_portal(token: str, page: PageDep) -> object:
    link = await page.rt.portal.open(token)
    if link is None:
        page.frame_origin = None
        return page.render(
            "error.html",
            http_status=404,
            title="Link expired",
            message="This portal link has expired or was revoked. Ask for a new one.",
        )
    session = type(page.session)(
        link_id=link.id,
        app_id=link.app_id,
        # The cookie outlives the link by an hour so the page can say the link expired;
        # every request checks the link itself (expiry, revocation).
        expires_at=min(link.expires_at + 3600, time.time() + 12 * 3600),
        changed=True,
    )
    page.session = session
    page.frame_origin = link.frame_origin
    return page.redirect(f"/console/apps/{link.app_id}/webhooks")
