"""Who is calling, and what they may do: the one place the role table is applied.

Callers are the instance administrator (the admin key, or a user marked
admin), app keys (one app, with a `KeyRole`), and users (by a token, or a
console session), whose rights in an app follow their org and app roles
(domain/roles.py). `Auth.app` is the enforcement point every route and every
console page passes through: it answers 404 when the app does not exist for
the caller (existence never leaks) and 403 when the caller may see the app
but not do this.

Keys and roles are cached per process for at most `CACHE_SECONDS`, so a
revoked token or a removed member stops working everywhere within a second,
while a busy publisher costs one database read per second, not one a request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from hookd.domain.models import App
from hookd.domain.people import Org, Roles
from hookd.domain.roles import Action, KeyRole, OrgRole, key_allowed, lacking, visible
from hookd.domain.roles import allowed as role_allows
from hookd.errors import Forbidden, NotFound, Unauthorized
from hookd.store import Store

K = TypeVar("K")
V = TypeVar("V")

KEY_PREFIX = "hk_"
CACHE_SECONDS = 1.0
_CACHE_MAX = 4096

# Who is acting in this request, for the audit log (set by the enforcement point).
current_actor: ContextVar[str] = ContextVar("hookd_actor", default="system")


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller: the administrator, an app key, or a user."""

    admin: bool = False
    app_id: str | None = None  # an app key's app
    key_role: KeyRole | None = None  # an app key's role
    user_id: str | None = None  # a user (by token or console session)
    key_id: str | None = None  # the key or token used, if any

    @property
    def is_admin(self) -> bool:
        return self.admin

    @property
    def actor(self) -> str:
        """Name the caller in the audit log (never a secret)."""
        return self.user_id or self.key_id or ("admin" if self.admin else "anonymous")


ADMIN = Principal(admin=True)


def new_key() -> str:
    """Return a fresh API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Auth:
    def __init__(self, store: Store, admin_key: str | None) -> None:
        self._store = store
        self._admin_hash = hash_key(admin_key) if admin_key else None
        self._keys: dict[str, tuple[float, Principal | None]] = {}
        self._users: dict[str, tuple[float, Principal | None]] = {}
        self._roles: dict[tuple[str, str], tuple[float, Roles]] = {}
        self._apps: dict[str, App] = {}

    async def principal(self, authorization: str | None) -> Principal:
        """Resolve an `Authorization: Bearer KEY` header, or raise Unauthorized."""
        if not authorization:
            raise Unauthorized("missing Authorization header (expected 'Bearer KEY')")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Authorization header must be 'Bearer KEY'")
        digest = hash_key(token)
        if self._admin_hash and hmac.compare_digest(digest, self._admin_hash):
            return ADMIN
        now = time.monotonic()
        cached = self._keys.get(digest)
        if cached and cached[0] > now:
            found = cached[1]
        else:
            found = await self._resolve(digest)
            _keep(self._keys, digest, (now + CACHE_SECONDS, found))
        if found is None:
            raise Unauthorized("invalid API key")
        current_actor.set(found.actor)
        return found

    async def _resolve(self, digest: str) -> Principal | None:
        key = await self._store.apps.find_key(digest)
        if key is None:
            return None
        if key.user_id is not None:
            user = await self.for_user(key.user_id)
            if user is None:
                return None
            return Principal(admin=user.admin, user_id=user.user_id, key_id=key.id)
        if key.app_id is None:
            return Principal(admin=True, key_id=key.id)
        return Principal(app_id=key.app_id, key_role=KeyRole(key.role), key_id=key.id)

    async def for_user(self, user_id: str) -> Principal | None:
        """Return the principal of a user (a console session), or None if it is gone."""
        now = time.monotonic()
        cached = self._users.get(user_id)
        if cached and cached[0] > now:
            return cached[1]
        user = await self._store.people.user(user_id)
        found = Principal(admin=user.admin, user_id=user.id) if user else None
        _keep(self._users, user_id, (now + CACHE_SECONDS, found))
        return found

    def forget(self) -> None:
        """Drop cached keys, users and roles (after a change made by this process)."""
        self._keys.clear()
        self._users.clear()
        self._roles.clear()

    async def app(self, principal: Principal, ref: str, action: Action = Action.VIEW) -> App:
        """Return the app `ref` names if the caller may do `action` in it.

        Raises NotFound when the app does not exist for the caller, Forbidden
        when the caller may see the app but not do `action`.
        """
        app = await self._app(ref)
        if app is None:
            raise NotFound(f"app {ref!r} not found")
        refusal = await self._refusal(principal, app, action)
        if refusal is not None:
            raise refusal
        current_actor.set(principal.actor)
        return app

    async def may(self, principal: Principal, app: App, action: Action) -> bool:
        """Tell whether the caller may do `action` in `app` (for showing buttons)."""
        return await self._refusal(principal, app, action) is None

    async def roles(self, principal: Principal, app: App) -> Roles:
        """Return a user's roles in `app` (cached for at most CACHE_SECONDS)."""
        if principal.user_id is None:
            return Roles(None, None)
        key = (principal.user_id, app.id)
        now = time.monotonic()
        cached = self._roles.get(key)
        if cached and cached[0] > now:
            return cached[1]
        found = await self._store.people.roles(principal.user_id, app.id)
        _keep(self._roles, key, (now + CACHE_SECONDS, found))
        return found

    async def _refusal(
        self, principal: Principal, app: App, action: Action
    ) -> NotFound | Forbidden | None:
        if principal.admin:
            return None
        if principal.app_id is not None:
            if app.id != principal.app_id:
                return NotFound(f"app {app.uid!r} not found")
            role = principal.key_role or KeyRole.OWNER
            if key_allowed(role, action):
                return None
            return Forbidden(f"this key's role {role.value!r} may not {action.value} in this app")
        if principal.user_id is None:
            return NotFound(f"app {app.uid!r} not found")
        roles = await self.roles(principal, app)
        if not visible(roles.org, roles.app):
            return NotFound(f"app {app.uid!r} not found")
        if role_allows(roles.org, roles.app, action):
            return None
        return Forbidden(lacking(roles.org, roles.app, action))

    async def _app(self, ref: str) -> App | None:
        app = self._apps.get(ref)
        if app is None:
            # Apps are never changed or deleted once made, so a found one can be kept.
            app = await self._store.apps.get(ref)
            if app is not None and len(self._apps) < _CACHE_MAX:
                self._apps[ref] = app
        return app

    async def org(self, principal: Principal, org_id: str, *, manage: bool = False) -> Org:
        """Return the org if the caller belongs to it; with `manage`, if it owns it."""
        org = await self._store.people.org(org_id)
        if org is None:
            raise NotFound(f"org {org_id!r} not found")
        if principal.admin:
            current_actor.set(principal.actor)
            return org
        role = None
        if principal.user_id is not None:
            role = await self._store.people.org_role(principal.user_id, org.id)
        if role is None:
            raise NotFound(f"org {org_id!r} not found")
        if manage and role is not OrgRole.OWNER:
            raise Forbidden(f"this needs the org role owner (you have {role.value})")
        current_actor.set(principal.actor)
        return org

    @staticmethod
    def require_admin(principal: Principal) -> None:
        if not principal.admin:
            raise Forbidden("this needs the instance administrator (admin key or admin user)")

    @staticmethod
    def require_self_or_admin(principal: Principal, user_id: str) -> None:
        if not principal.admin and principal.user_id != user_id:
            raise NotFound(f"user {user_id!r} not found")


def _keep(cache: dict[K, V], key: K, value: V) -> None:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value


async def ensure_admin_key(store: Store, configured: str | None) -> str | None:
    """Make sure an admin key exists; return a new one to print once, else None."""
    if configured or await store.apps.has_admin_key():
        return None
    key = new_key()
    await store.apps.replace_admin_key(key[:8], hash_key(key), time.time())
    return key
