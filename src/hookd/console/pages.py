"""What every console page shares: the templates, the caller, CSRF, errors as pages.

A console route declares `Page` to get the runtime, the caller and the
session; it returns `page.render(...)` or `page.redirect(...)`. `ConsoleRoute`
turns hookd's errors into HTML pages (403, 404, sign-in) instead of JSON, and
sets the security headers on every answer.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hookd.console.session import Sessions
from hookd.domain.models import App
from hookd.domain.roles import Action
from hookd.errors import Forbidden, HookdError, NotFound
from hookd.runtime import Runtime
from hookd.service.auth import Principal
from hookd.service.portal import portal_principal

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


_MULTI = frozenset({"events"})  # form fields that may repeat


class SignInNeeded(HookdError):
    status = 401
    code = "unauthorized"


class BadCsrf(HookdError):
    status = 403
    code = "forbidden"


def when(ts: float | None) -> str:
    """Show a time the way people read it (UTC)."""
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


templates.env.filters["when"] = when


class Page:
    """One console request: the runtime, the session and (once asked) the caller."""

    def __init__(self, request: Request, rt: Runtime, sessions: Sessions) -> None:
        self.request = request
        self.rt = rt
        self.sessions = sessions
        self.session = sessions.load(request)
        self.principal: Principal | None = None
        self.frame_origin: str | None = None
        request.state.console_page = self

    async def caller(self) -> Principal:
        """Return who is signed in (or holds a portal link), else ask them to sign in."""
        if self.principal is not None:
            return self.principal
        s = self.session
        if s.link_id is not None and s.app_id is not None:
            link = await self.rt.portal.live(s.app_id, s.link_id)
            if link is None:
                raise SignInNeeded("this portal link has expired or was revoked")
            self.frame_origin = link.frame_origin
            self.principal = portal_principal(link)
        elif s.user_id is not None:
            found = await self.rt.auth.for_user(s.user_id)
            if found is None:
                raise SignInNeeded("please sign in")
            self.principal = found
        else:
            raise SignInNeeded("please sign in")
        return self.principal

    async def app(self, ref: str, action: Action = Action.VIEW) -> App:
        """Return the app through the one enforcement point (404 / 403 as the API)."""
        return await self.rt.auth.app(await self.caller(), ref, action)

    async def may(self, app: App, action: Action) -> bool:
        return await self.rt.auth.may(await self.caller(), app, action)

    async def form(self) -> dict[str, Any]:
        """Read a posted form, refusing it unless it carries this session's CSRF token."""
        # Parsed here, not by Starlette: the API's JsonBodies middleware relabels form
        # bodies as JSON (for curl -d), and the console's forms are urlencoded only.
        body = (await self.request.body()).decode("utf-8", "replace")
        parsed = parse_qs(body, keep_blank_values=True)
        if parsed.get("csrf", [""])[0] != self.session.csrf:
            raise BadCsrf(
                "the form expired or came from another site; reload the page and try again"
            )
        return {k: v if k in _MULTI else v[0] for k, v in parsed.items()}

    def render(self, template: str, *, http_status: int = 200, **context: Any) -> Response:
        context.setdefault("signed_in", self.principal is not None)
        response = templates.TemplateResponse(
            self.request,
            template,
            {
                "csrf": self.session.csrf,
                "flash": self.session.take_flash(),
                "portal": self.session.portal,
                "principal": self.principal,
                **context,
            },
            status_code=http_status,
        )
        self.sessions.save(response, self.session)
        return response

    def redirect(self, url: str, message: str | None = None) -> Response:
        """Answer a POST with a redirect to a page that shows `message` (POST-redirect-GET)."""
        if message:
            self.session.say(message)
        response = RedirectResponse(url, status_code=303)
        self.sessions.save(response, self.session)
        return response


async def _page(request: Request) -> Page:
    rt: Runtime = request.app.state.runtime
    sessions: Sessions | None = getattr(request.app.state, "console_sessions", None)
    if sessions is None:
        # The signing secret lives in the database, so every process signs alike.
        secret = await rt.store.portal_links.console_secret()
        sessions = Sessions(secret, dev=rt.settings.dev)
        request.app.state.console_sessions = sessions
    return Page(request, rt, sessions)


PageDep = Annotated[Page, Depends(_page)]


def _headers(response: Response, frame_origin: str | None) -> None:
    ancestors = frame_origin or "'none'"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"form-action 'self'; frame-ancestors {ancestors}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


class ConsoleRoute(APIRoute):
    """A console route: hookd's errors become pages; security headers on every answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInNeeded as exc:
                response = _sign_in(request, exc)
            except HookdError as exc:
                response = _error_page(request, exc)
            page: Page | None = getattr(request.state, "console_page", None)
            _headers(response, page.frame_origin if page else None)
            return response

        return route


def _sign_in(request: Request, exc: SignInNeeded) -> Response:
    page: Page | None = getattr(request.state, "console_page", None)
    if page is not None and page.session.portal:
        return _error_page(request, exc, title="Link expired")
    target = request.url.path
    if request.method != "GET":
        target = "/console"
    return RedirectResponse(f"/console/login?next={quote(target)}", status_code=303)


def _error_page(request: Request, exc: HookdError, title: str | None = None) -> Response:
    page: Page | None = getattr(request.state, "console_page", None)
    titles = {403: "You may not do this", 404: "Page not found", 409: "Not possible right now"}
    status = exc.status if exc.status in (401, 403, 404, 409, 413, 422) else 400
    context = {
        "title": title or titles.get(status, "Something is wrong"),
        "message": exc.message,
        "status": status,
    }
    if page is None:
        return HTMLResponse(f"<h1>{status}</h1>", status_code=status)
    return page.render("error.html", http_status=status, **context)


__all__ = ["BadCsrf", "ConsoleRoute", "Forbidden", "NotFound", "Page", "PageDep", "templates"]
