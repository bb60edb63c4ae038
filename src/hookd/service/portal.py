"""Portal links: short-lived magic links that open one app's console without an account.

A link's token is shown once and only its SHA-256 is stored. Whoever opens a
live link acts in that one app as an owner key would (view, change, publish),
nothing else; the link expires (default one hour) and can be revoked.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from hookd import ids
from hookd.domain.models import App
from hookd.domain.roles import Action, KeyRole
from hookd.errors import Invalid, NotFound
from hookd.service.auth import Auth, Principal
from hookd.store import Store
from hookd.store.portal_links import PortalLink

__all__ = ["PortalService", "PortalSettings", "portal_principal"]

TOKEN_PREFIX = "hpl_"
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


class PortalSettings(BaseSettings):
    """The portal's knobs, `HOOKD_<NAME>` in the environment like every setting."""

    model_config = SettingsConfigDict(env_prefix="HOOKD_", extra="ignore")

    portal_link_seconds: float = Field(3600.0, gt=0)
    """How long a portal link lives when its creator does not say."""

    portal_link_max_seconds: float = Field(86400.0, gt=0)
    """The longest life a portal link may be given."""

    portal_frame_origins: str = ""
    """Origins allowed to embed portal pages in an iframe (comma-separated, e.g.
    `https://app.example.com`); a link names one of them. Empty: a link may name any origin."""

    def allowed_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.portal_frame_origins.split(",") if o.strip()]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def portal_principal(link: PortalLink) -> Principal:
    """Act in the link's one app with an owner key's rights."""
    return Principal(app_id=link.app_id, key_role=KeyRole.OWNER, key_id=link.id)


class PortalService:
    def __init__(self, store: Store, auth: Auth, settings: PortalSettings | None = None) -> None:
        self._store = store
        self._auth = auth
        self.settings = settings or PortalSettings()

    async def _owned(self, who: Principal, ref: str) -> App:
        """Return the app if the caller owns it (admin, owner key, app or org owner)."""
        if who.app_id is not None and who.key_role in (None, KeyRole.OWNER):
            return await self._auth.app(who, ref, Action.CHANGE)
        return await self._auth.app(who, ref, Action.MANAGE_MEMBERS)

    async def create(
        self,
        who: Principal,
        ref: str,
        *,
        expires_in: float | None = None,
        frame_origin: str | None = None,
    ) -> tuple[PortalLink, str]:
        """Make a link into `ref`'s console; return it and its token (shown once)."""
        app = await self._owned(who, ref)
        limit = self.settings.portal_link_max_seconds
        life = self.settings.portal_link_seconds if expires_in is None else expires_in
        if not 0 < life <= limit:
            raise Invalid("expires_in", f"must be more than 0 and at most {limit:g} seconds")
        origin = self._check_origin(frame_origin)
        now = time.time()
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        link = PortalLink(
            id=ids.new_id("key", now).replace("key_", "pl_", 1),
            app_id=app.id,
            frame_origin=origin,
            created_by=who.actor,
            created_at=now,
            expires_at=now + min(life, limit),
            revoked_at=None,
        )
        await self._store.portal_links.create(link, hash_token(token))
        return link, token

    def _check_origin(self, origin: str | None) -> str | None:
        if origin is None or not origin.strip():
            return None
        origin = origin.strip().rstrip("/")
        if not _ORIGIN.match(origin):
            raise Invalid("frame_origin", "must be an origin: scheme://host[:port], no path")
        allowed = self.settings.allowed_origins()
        if allowed and origin not in allowed:
            raise Invalid("frame_origin", f"must be one of HOOKD_PORTAL_FRAME_ORIGINS: {allowed}")
        return origin

    async def links(self, who: Principal, ref: str) -> list[PortalLink]:
        app = await self._owned(who, ref)
        return await self._store.portal_links.of_app(app.id)

    async def revoke(self, who: Principal, ref: str, link_id: str) -> None:
        app = await self._owned(who, ref)
        if not await self._store.portal_links.revoke(app.id, link_id, time.time()):
            raise NotFound(f"portal link {link_id!r} not found (or already revoked)")

    async def open(self, token: str) -> PortalLink | None:
        """Return the live link this token opens, or None."""
        link = await self._store.portal_links.by_hash(hash_token(token))
        return link if link is not None and link.live(time.time()) else None

    async def live(self, app_id: str, link_id: str) -> PortalLink | None:
        """Return the link if it still opens its app (not expired, not revoked)."""
        link = await self._store.portal_links.get(app_id, link_id)
        return link if link is not None and link.live(time.time()) else None
