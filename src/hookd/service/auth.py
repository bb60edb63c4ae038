"""API keys: who is calling, and which app they may touch.

Keys are shown once and stored as SHA-256 hashes. The admin key may do
everything; an app key sees only its own app, and another app looks to it
exactly like an app that does not exist (404), so existence never leaks.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from hookd.domain.models import App
from hookd.errors import Forbidden, NotFound, Unauthorized
from hookd.store import Store

KEY_PREFIX = "hk_"
_CACHE_SECONDS = 10.0
_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class Principal:
    app_id: str | None  # None: the instance admin

    @property
    def is_admin(self) -> bool:
        return self.app_id is None


def new_key() -> str:
    """Return a fresh API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Auth:
    def __init__(self, store: Store, admin_key: str | None) -> None:
        self._store = store
        self._admin_hash = hash_key(admin_key) if admin_key else None
        self._cache: dict[str, tuple[float, Principal]] = {}
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
            return Principal(None)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        key = await self._store.apps.find_key(digest)
        if key is None:
            raise Unauthorized("invalid API key")
        found = Principal(key.app_id)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (now + _CACHE_SECONDS, found)
        return found

    def forget(self) -> None:
        """Drop cached keys (after a key is revoked)."""
        self._cache.clear()

    async def app(self, principal: Principal, ref: str) -> App:
        """Return the app `ref` names if the caller may use it; 404 otherwise."""
        app = self._apps.get(ref)
        if app is None:
            # Apps are never changed or deleted once made, so a found one can be kept.
            app = await self._store.apps.get(ref)
            if app is not None and len(self._apps) < _CACHE_MAX:
                self._apps[ref] = app
        if app is None or (not principal.is_admin and app.id != principal.app_id):
            raise NotFound(f"app {ref!r} not found")
        return app

    @staticmethod
    def require_admin(principal: Principal) -> None:
        if not principal.is_admin:
            raise Forbidden("this needs the admin key")


async def ensure_admin_key(store: Store, configured: str | None) -> str | None:
    """Make sure an admin key exists; return a new one to print once, else None."""
    if configured or await store.apps.has_admin_key():
        return None
    key = new_key()
    await store.apps.replace_admin_key(key[:8], hash_key(key), time.time())
    return key
