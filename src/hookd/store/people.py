"""Users, organizations, their members and apps' members, users' tokens."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from hookd import ids
from hookd.domain.models import ApiKey
from hookd.domain.people import AppMember, Org, OrgMember, Roles, User
from hookd.domain.roles import AppRole, OrgRole
from hookd.store import rows
from hookd.store.engine import Engines
from hookd.store.tables import api_keys, app_members, apps, org_members, orgs, users

_USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.name,
    users.c.admin,
    (users.c.password_hash.is_not(None)).label("has_password"),
    users.c.created_at,
    users.c.updated_at,
)


def _user(row: Row[Any]) -> User:
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        admin=bool(row.admin),
        has_password=bool(row.has_password),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _org(row: Row[Any]) -> Org:
    return Org(id=row.id, name=row.name, created_at=row.created_at)


class PeopleRepository:
    def __init__(self, engines: Engines) -> None:
        self._db = engines

    # users ---------------------------------------------------------------

    async def create_user(
        self, email: str, name: str, password_hash: str | None, admin: bool, now: float
    ) -> User:
        """Insert a user; raises IntegrityError when the e-mail is taken."""
        user_id = ids.new_id("usr", now)
        async with self._db.write.begin() as conn:
            await conn.execute(
                users.insert().values(
                    id=user_id,
                    email=email,
                    name=name,
                    password_hash=password_hash,
                    admin=admin,
                    created_at=now,
                    updated_at=now,
                )
            )
        return User(user_id, email, name, admin, password_hash is not None, now, now)

    async def user(self, user_id: str) -> User | None:
        async with self._db.read.connect() as conn:
            query = sa.select(*_USER_COLUMNS).where(users.c.id == user_id)
            row = (await conn.execute(query)).first()
        return _user(row) if row else None

    async def users_page(self, limit: int, after: str | None) -> list[User]:
        query = sa.select(*_USER_COLUMNS).order_by(users.c.id).limit(limit)
        if after:
            query = query.where(users.c.id > after)
        async with self._db.read.connect() as conn:
            return [_user(r) for r in await conn.execute(query)]

    async def password_hash(self, email: str) -> tuple[str, str | None] | None:
        """Return (user id, password hash) for the user with this e-mail."""
        query = sa.select(users.c.id, users.c.password_hash).where(users.c.email == email)
        async with self._db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        return (row.id, row.password_hash) if row else None

    async def update_user(self, user_id: str, values: dict[str, Any], now: float) -> bool:
        """Change a user's columns; raises IntegrityError when a new e-mail is taken."""
        async with self._db.write.begin() as conn:
            result = await conn.execute(
                users.update().where(users.c.id == user_id).values(**values, updated_at=now)
            )
        return result.rowcount > 0

    async def delete_user(self, user_id: str) -> bool:
        async with self._db.write.begin() as conn:
            # Explicitly, so SQLite without foreign-key enforcement forgets them too.
            for table in (org_members, app_members):
                await conn.execute(table.delete().where(table.c.user_id == user_id))
            await conn.execute(api_keys.delete().where(api_keys.c.user_id == user_id))
            result = await conn.execute(users.delete().where(users.c.id == user_id))
        return result.rowcount > 0

    # organizations -------------------------------------------------------

    async def create_org(self, name: str, now: float) -> Org:
        org = Org(ids.new_id("org", now), name, now)
        async with self._db.write.begin() as conn:
            await conn.execute(orgs.insert().values(id=org.id, name=name, created_at=now))
        return org

    async def org(self, org_id: str) -> Org | None:
        async with self._db.read.connect() as conn:
            row = (await conn.execute(sa.select(orgs).where(orgs.c.id == org_id))).first()
        return _org(row) if row else None

    async def orgs(self) -> list[Org]:
        async with self._db.read.connect() as conn:
            return [_org(r) for r in await conn.execute(sa.select(orgs).order_by(orgs.c.id))]

    # members -------------------------------------------------------------

    async def set_org_member(self, org_id: str, user_id: str, role: OrgRole, now: float) -> None:
        await self._set(org_members, org_members.c.org_id, org_id, user_id, role, now)

    async def set_app_member(self, app_id: str, user_id: str, role: AppRole, now: float) -> None:
        await self._set(app_members, app_members.c.app_id, app_id, user_id, role, now)

    async def _set(
        self,
        table: sa.Table,
        owner: sa.Column[Any],
        owner_id: str,
        user_id: str,
        role: str,
        now: float,
    ) -> None:
        where = sa.and_(owner == owner_id, table.c.user_id == user_id)
        async with self._db.write.begin() as conn:
            changed = await conn.execute(table.update().where(where).values(role=role))
            if changed.rowcount == 0:
                await conn.execute(
                    table.insert().values(
                        {owner.name: owner_id, "user_id": user_id, "role": role, "created_at": now}
                    )
                )

    async def remove_org_member(self, org_id: str, user_id: str) -> bool:
        return await self._remove(org_members, org_members.c.org_id, org_id, user_id)

    async def remove_app_member(self, app_id: str, user_id: str) -> bool:
        return await self._remove(app_members, app_members.c.app_id, app_id, user_id)

    async def _remove(
        self, table: sa.Table, owner: sa.Column[Any], owner_id: str, user_id: str
    ) -> bool:
        async with self._db.write.begin() as conn:
            result = await conn.execute(
                table.delete().where(owner == owner_id, table.c.user_id == user_id)
            )
        return result.rowcount > 0

    async def org_role(self, user_id: str, org_id: str) -> OrgRole | None:
        query = sa.select(org_members.c.role).where(
            org_members.c.org_id == org_id, org_members.c.user_id == user_id
        )
        async with self._db.read.connect() as conn:
            role = (await conn.execute(query)).scalar_one_or_none()
        return OrgRole(role) if role else None

    async def org_members(self, org_id: str) -> list[OrgMember]:
        query = (
            sa.select(org_members.c.role, org_members.c.created_at, *_USER_COLUMNS)
            .join(users, users.c.id == org_members.c.user_id)
            .where(org_members.c.org_id == org_id)
            .order_by(users.c.email)
        )
        async with self._db.read.connect() as conn:
            return [
                OrgMember(org_id, _user(r), OrgRole(r.role), r.created_at)
                for r in await conn.execute(query)
            ]

    async def app_members(self, app_id: str) -> list[AppMember]:
        query = (
            sa.select(app_members.c.role, app_members.c.created_at, *_USER_COLUMNS)
            .join(users, users.c.id == app_members.c.user_id)
            .where(app_members.c.app_id == app_id)
            .order_by(users.c.email)
        )
        async with self._db.read.connect() as conn:
            return [
                AppMember(app_id, _user(r), AppRole(r.role), r.created_at)
                for r in await conn.execute(query)
            ]

    async def roles(self, user_id: str, app_id: str) -> Roles:
        """Return the user's role in the app's org and in the app (one query)."""
        org_role = (
            sa.select(org_members.c.role)
            .where(org_members.c.org_id == apps.c.org_id, org_members.c.user_id == user_id)
            .scalar_subquery()
        )
        app_role = (
            sa.select(app_members.c.role)
            .where(app_members.c.app_id == apps.c.id, app_members.c.user_id == user_id)
            .scalar_subquery()
        )
        query = sa.select(org_role.label("org"), app_role.label("app")).where(apps.c.id == app_id)
        async with self._db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return Roles(None, None)
        return Roles(OrgRole(row.org) if row.org else None, AppRole(row.app) if row.app else None)

    async def memberships(
        self, user_id: str
    ) -> tuple[list[tuple[Org, OrgRole]], list[tuple[str, str, AppRole]]]:
        """Return the user's orgs with roles, and (app id, org id, role) of its apps."""
        org_query = (
            sa.select(orgs, org_members.c.role)
            .join(org_members, org_members.c.org_id == orgs.c.id)
            .where(org_members.c.user_id == user_id)
            .order_by(orgs.c.id)
        )
        app_query = (
            sa.select(apps.c.id, apps.c.org_id, app_members.c.role)
            .join(app_members, app_members.c.app_id == apps.c.id)
            .where(app_members.c.user_id == user_id)
            .order_by(apps.c.id)
        )
        async with self._db.read.connect() as conn:
            found_orgs = [(_org(r), OrgRole(r.role)) for r in await conn.execute(org_query)]
            found_apps = [(r.id, r.org_id, AppRole(r.role)) for r in await conn.execute(app_query)]
        return found_orgs, found_apps

    # tokens --------------------------------------------------------------

    async def add_token(
        self, user_id: str, name: str, prefix: str, key_hash: str, now: float
    ) -> ApiKey:
        key = ApiKey(
            id=ids.new_id("key", now),
            app_id=None,
            name=name,
            prefix=prefix,
            created_at=now,
            user_id=user_id,
        )
        async with self._db.write.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    id=key.id,
                    app_id=None,
                    user_id=user_id,
                    name=name,
                    prefix=prefix,
                    key_hash=key_hash,
                    created_at=now,
                )
            )
        return key

    async def tokens(self, user_id: str) -> list[ApiKey]:
        query = (
            sa.select(api_keys)
            .where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
            .order_by(api_keys.c.id)
        )
        async with self._db.read.connect() as conn:
            return [rows.api_key(r) for r in await conn.execute(query)]

    async def revoke_token(self, user_id: str, token_id: str, now: float) -> bool:
        async with self._db.write.begin() as conn:
            result = await conn.execute(
                api_keys.update()
                .where(
                    api_keys.c.id == token_id,
                    api_keys.c.user_id == user_id,
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
        return result.rowcount > 0
