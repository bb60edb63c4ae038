"""The console's signed session cookies: who is signed in, the CSRF token, flash messages.

Two kinds of session, each in its own cookie:

    hookd_console   a signed-in user (path /console), SameSite=Lax
    hookd_portal    a portal link's visitor, scoped to its one app's pages;
                    SameSite=None (outside --dev) so it works inside an iframe

Both are signed with a secret kept in the database (itsdangerous, HMAC-SHA1
over the payload and a timestamp), HttpOnly, Secure outside --dev, and expire.
They carry ids only, never a secret of a webhook.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

USER_COOKIE = "hookd_console"
PORTAL_COOKIE = "hookd_portal"
USER_SESSION_SECONDS = 12 * 3600


@dataclass
class Session:
    """What the console knows of a browser between requests."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    user_id: str | None = None
    link_id: str | None = None  # a portal session: the link that opened it
    app_id: str | None = None  # a portal session: its one app
    expires_at: float = 0.0
    flash: list[tuple[str, str]] = field(default_factory=list)
    changed: bool = False

    @property
    def portal(self) -> bool:
        return self.link_id is not None

    def say(self, text: str, kind: str = "success") -> None:
        """Keep a message for the next page shown (post, redirect, get)."""
        self.flash.append((kind, text))
        self.changed = True

    def take_flash(self) -> list[tuple[str, str]]:
        shown, self.flash = self.flash, []
        if shown:
            self.changed = True
        return shown


class Sessions:
    def __init__(self, secret: str, *, dev: bool) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="hookd-console-session")
        self._dev = dev

    def load(self, request: Request) -> Session:
        """Return the browser's session: the portal one on its app's pages, else the user's."""
        for name in (PORTAL_COOKIE, USER_COOKIE):
            found = self._read(request.cookies.get(name))
            if found is not None:
                return found
        return Session(changed=True)

    def _read(self, raw: str | None) -> Session | None:
        if not raw:
            return None
        try:
            data: dict[str, Any] = self._signer.loads(raw, max_age=USER_SESSION_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict) or float(data.get("x", 0)) <= time.time():
            return None
        return Session(
            csrf=str(data.get("c") or secrets.token_urlsafe(24)),
            user_id=data.get("u"),
            link_id=data.get("l"),
            app_id=data.get("a"),
            expires_at=float(data["x"]),
            flash=[(str(k), str(t)) for k, t in data.get("f", [])],
        )

    def save(self, response: Response, session: Session) -> None:
        """Write the session's cookie when it changed."""
        if not session.changed:
            return
        now = time.time()
        if not session.expires_at:
            session.expires_at = now + USER_SESSION_SECONDS
        payload = {
            "c": session.csrf,
            "u": session.user_id,
            "l": session.link_id,
            "a": session.app_id,
            "x": session.expires_at,
            "f": session.flash,
        }
        value = self._signer.dumps(payload)
        max_age = max(1, int(session.expires_at - now))
        if session.portal:
            response.set_cookie(
                PORTAL_COOKIE,
                value,
                max_age=max_age,
                path=f"/console/apps/{session.app_id}",
                httponly=True,
                secure=not self._dev,
                samesite="lax" if self._dev else "none",
            )
            if not self._dev:
                _partition(response)
        else:
            response.set_cookie(
                USER_COOKIE,
                value,
                max_age=max_age,
                path="/console",
                httponly=True,
                secure=not self._dev,
                samesite="lax",
            )

    def end(self, response: Response) -> None:
        """Forget the user's session (Sign out)."""
        response.delete_cookie(USER_COOKIE, path="/console", httponly=True, secure=not self._dev)


def _partition(response: Response) -> None:
    """Mark the cookie just set Partitioned (CHIPS), so third-party iframes keep it.

    Starlette's `partitioned=` needs Python 3.14; the attribute is added by hand.
    """
    name, value = response.raw_headers[-1]
    if name == b"set-cookie" and b"partitioned" not in value.lower():
        response.raw_headers[-1] = (name, value + b"; Partitioned")
