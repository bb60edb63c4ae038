"""Apps, API keys and instance facts."""

from __future__ import annotations

import sqlalchemy as sa

from hookd import ids
from hookd.domain import operational
from hookd.domain.models import ApiKey, App
from hookd.domain.people import DEFAULT_ORG_ID
from hookd.store import rows
from hookd.store.engine import Engines
from hookd.store.event_types import insert_missing
from hookd.store.tables import api_keys, apps

DEFAULT_APP_UID = "default"
# The instance admin key: no app, no user (a user's token has no app either).
_ADMIN_KEY = sa.and_(api_keys.c.app_id.is_(None), api_keys.c.user_id.is_(None))


class AppRepository:
    def __init__(self, engines: Engines) -> None:
        self._db = engines

    async def ensure_default(self, now: float) -> App:
        """Return the `default` app, creating it on first use."""
        found = await self.get(DEFAULT_APP_UID)
        if found:
            return found
        try:
            return await self.create(DEFAULT_APP_UID, "Default", now)
        except sa.exc.IntegrityError:
            again = await self.get(DEFAULT_APP_UID)
            assert again is not None
            return again

    async def create(self, uid: str, name: str, now: float, org_id: str = DEFAULT_ORG_ID) -> App:
        """Insert an app; raises IntegrityError when `uid` is taken."""
        app = App(id=ids.new_id("app", now), uid=uid, name=name, created_at=now, org_id=org_id)
        async with self._db.write.begin() as conn:
            await conn.execute(
                apps.insert().values(id=app.id, uid=uid, name=name, created_at=now, org_id=org_id)
            )
            # hookd's own event types, so webhooks can subscribe to them from the start.
            await insert_missing(conn, operational.catalogue(app.id, now))
        return app

    async def get(self, id_or_uid: str) -> App | None:
        column = apps.c.id if ids.has_prefix(id_or_uid, "app") else apps.c.uid
        async with self._db.read.connect() as conn:
            row = (await conn.execute(sa.select(apps).where(column == id_or_uid))).first()
        return rows.app(row) if row else None

    async def update(self, app_id: str, name: str, org_id: str) -> App | None:
        """Rename an app or move it to another org."""
        async with self._db.write.begin() as conn:
            await conn.execute(
                apps.update().where(apps.c.id == app_id).values(name=name, org_id=org_id)
            )
        return await self.get(app_id)

    async def all(self) -> list[App]:
        async with self._db.read.connect() as conn:
            result = await conn.execute(sa.select(apps).order_by(apps.c.id))
            return [rows.app(r) for r in result]

    async def add_key(
        self,
        app_id: str | None,
        name: str,
        prefix: str,
        key_hash: str,
        now: float,
        role: str = "owner",
    ) -> ApiKey:
        key = ApiKey(
            id=ids.new_id("key", now),
            app_id=app_id,
            name=name,
            prefix=prefix,
            created_at=now,
            role=role,
        )
        async with self._db.write.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    id=key.id,
                    app_id=app_id,
                    name=name,
                    prefix=prefix,
                    key_hash=key_hash,
                    created_at=now,
                    role=role,
                )
            )
        return key

    async def find_key(self, key_hash: str) -> ApiKey | None:
        """Return the live key with this hash."""
        query = sa.select(api_keys).where(
            api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
        )
        async with self._db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        return rows.api_key(row) if row else None

    async def list_keys(self, app_id: str) -> list[ApiKey]:
        query = (
            sa.select(api_keys)
            .where(api_keys.c.app_id == app_id, api_keys.c.revoked_at.is_(None))
            .order_by(api_keys.c.id)
        )
        async with self._db.read.connect() as conn:
            return [rows.api_key(r) for r in await conn.execute(query)]

    async def revoke_key(self, app_id: str, key_id: str, now: float) -> bool:
        async with self._db.write.begin() as conn:
            result = await conn.execute(
                api_keys.update()
                .where(
                    api_keys.c.id == key_id,
                    api_keys.c.app_id == app_id,
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
        return result.rowcount > 0

    async def replace_admin_key(self, prefix: str, key_hash: str, now: float) -> None:
        """Revoke every stored admin key and store this one."""
        async with self._db.write.begin() as conn:
            await conn.execute(
                api_keys.update()
                .where(_ADMIN_KEY, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            await conn.execute(
                api_keys.insert().values(
                    id=ids.new_id("key", now),
                    app_id=None,
                    name="admin",
                    prefix=prefix,
                    key_hash=key_hash,
                    created_at=now,
                )
            )

    async def has_admin_key(self) -> bool:
        query = sa.select(sa.func.count()).where(_ADMIN_KEY, api_keys.c.revoked_at.is_(None))
        async with self._db.read.connect() as conn:
            return bool((await conn.execute(query)).scalar_one())
