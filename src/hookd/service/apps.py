"""Apps and their API keys: made by the administrator, keys with a role."""

from __future__ import annotations

import time

import sqlalchemy as sa

from hookd.domain.models import ApiKey, App
from hookd.domain.people import DEFAULT_ORG_ID
from hookd.domain.roles import KeyRole
from hookd.errors import Conflict, Invalid, NotFound
from hookd.service.audit import AuditService
from hookd.service.auth import Auth, Principal, hash_key, new_key
from hookd.store import Store


class AppService:
    def __init__(self, store: Store, auth: Auth, audit: AuditService) -> None:
        self._store = store
        self._auth = auth
        self._audit = audit

    async def create(self, who: Principal, uid: str, name: str, org_id: str | None) -> App:
        self._auth.require_admin(who)
        org = org_id or DEFAULT_ORG_ID
        if await self._store.people.org(org) is None:
            raise Invalid("org", f"no org {org!r}")
        try:
            app = await self._store.apps.create(uid, name or uid, time.time(), org)
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"an app with uid {uid!r} exists") from exc
        await self._audit.in_app(app, "app.create", app.id, ["uid", "name", "org"])
        return app

    async def update(self, who: Principal, app: App, *, name: str, org_id: str) -> App:
        """Rename an app or move it to another org (its members there keep their roles)."""
        self._auth.require_admin(who)
        if await self._store.people.org(org_id) is None:
            raise Invalid("org", f"no org {org_id!r}")
        updated = await self._store.apps.update(app.id, name or app.uid, org_id)
        if updated is None:
            raise NotFound(f"app {app.uid!r} not found")
        self._auth.forget()
        changed = [
            f
            for f, old, new in (("name", app.name, name), ("org", app.org_id, org_id))
            if old != new
        ]
        await self._audit.in_app(updated, "app.update", app.id, changed)
        return updated

    async def create_key(
        self, who: Principal, app: App, name: str, role: KeyRole
    ) -> tuple[ApiKey, str]:
        """Issue an app key; the plain key is shown once."""
        self._auth.require_admin(who)
        plain = new_key()
        key = await self._store.apps.add_key(
            app.id, name, plain[:8], hash_key(plain), time.time(), role=role.value
        )
        await self._audit.in_app(app, "api_key.create", key.id, ["name", "role"])
        return key, plain

    async def keys(self, who: Principal, app: App) -> list[ApiKey]:
        self._auth.require_admin(who)
        return await self._store.apps.list_keys(app.id)

    async def revoke_key(self, who: Principal, app: App, key_id: str) -> None:
        self._auth.require_admin(who)
        if not await self._store.apps.revoke_key(app.id, key_id, time.time()):
            raise NotFound(f"api key {key_id!r} not found")
        self._auth.forget()
        await self._audit.in_app(app, "api_key.revoke", key_id)
