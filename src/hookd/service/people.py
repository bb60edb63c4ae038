"""Users, their tokens and passwords, organizations and the members of orgs and apps.

Every method takes the caller (`Principal`) and checks it through `Auth`, so
the API, the CLI and the console get the same answers from one place.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hookd.domain.models import ApiKey, App
from hookd.domain.people import AppMember, Org, OrgMember, User
from hookd.domain.roles import Action, AppRole, OrgRole, visible
from hookd.errors import Conflict, Forbidden, NotFound
from hookd.service.audit import AuditService
from hookd.service.auth import Auth, Principal, hash_key, new_key
from hookd.store import Store

_hasher = PasswordHasher()  # argon2id, the library's recommended parameters
# Checked when the e-mail is unknown, so a wrong e-mail takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password anyone has")


@dataclass(frozen=True, slots=True)
class AppAccess:
    """An app a user can see, with the user's roles in it."""

    app: App
    org_role: OrgRole | None
    app_role: AppRole | None


@dataclass(frozen=True, slots=True)
class Me:
    principal: Principal
    user: User | None
    orgs: list[tuple[Org, OrgRole]]
    apps: list[AppAccess]


async def hash_password(password: str) -> str:
    """Hash with argon2id, off the event loop (it takes tens of milliseconds)."""
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


class PeopleService:
    def __init__(self, store: Store, auth: Auth, audit: AuditService) -> None:
        self._store = store
        self._auth = auth
        self._audit = audit

    # users ---------------------------------------------------------------

    async def create_user(
        self, who: Principal, email: str, name: str, password: str | None, admin: bool
    ) -> User:
        self._auth.require_admin(who)
        hashed = await hash_password(password) if password else None
        try:
            user = await self._store.people.create_user(
                email.lower(), name, hashed, admin, time.time()
            )
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"a user with email {email.lower()!r} exists") from exc
        return user

    async def user(self, who: Principal, user_id: str) -> User:
        self._auth.require_self_or_admin(who, user_id)
        found = await self._store.people.user(user_id)
        if found is None:
            raise NotFound(f"user {user_id!r} not found")
        return found

    async def users(self, who: Principal, limit: int, after: str | None) -> list[User]:
        self._auth.require_admin(who)
        return await self._store.people.users_page(limit, after)

    async def update_user(self, who: Principal, user_id: str, fields: dict[str, Any]) -> User:
        """Change a user; only the administrator may change `admin` or another's fields."""
        await self.user(who, user_id)
        if "admin" in fields and not who.admin:
            raise Forbidden("only the instance administrator may change 'admin'")
        values = dict(fields)
        if "email" in values:
            values["email"] = values["email"].lower()
        if "password" in values:
            password = values.pop("password")
            values["password_hash"] = await hash_password(password) if password else None
        if values:
            try:
                await self._store.people.update_user(user_id, values, time.time())
            except sa.exc.IntegrityError as exc:
                raise Conflict(f"a user with email {values.get('email')!r} exists") from exc
            self._auth.forget()
        return await self.user(who, user_id)

    async def delete_user(self, who: Principal, user_id: str) -> None:
        self._auth.require_admin(who)
        if not await self._store.people.delete_user(user_id):
            raise NotFound(f"user {user_id!r} not found")
        self._auth.forget()

    async def authenticate(self, email: str, password: str) -> User | None:
        """Return the user with this e-mail and password, or None (same time either way)."""
        found = await self._store.people.password_hash(email.strip().lower())
        stored = found[1] if found else None
        if not await asyncio.to_thread(_verify, stored, password) or found is None:
            return None
        return await self._store.people.user(found[0])

    # tokens --------------------------------------------------------------

    async def create_token(self, who: Principal, user_id: str, name: str) -> tuple[ApiKey, str]:
        """Issue a token that authenticates as the user; the plain token is shown once."""
        await self.user(who, user_id)
        plain = new_key()
        token = await self._store.people.add_token(
            user_id, name, plain[:8], hash_key(plain), time.time()
        )
        await self._audit_user(user_id, "token.create", token.id, ["name"])
        return token, plain

    async def tokens(self, who: Principal, user_id: str) -> list[ApiKey]:
        await self.user(who, user_id)
        return await self._store.people.tokens(user_id)

    async def revoke_token(self, who: Principal, user_id: str, token_id: str) -> None:
        await self.user(who, user_id)
        if not await self._store.people.revoke_token(user_id, token_id, time.time()):
            raise NotFound(f"token {token_id!r} not found")
        self._auth.forget()
        await self._audit_user(user_id, "token.revoke", token_id)

    async def _audit_user(
        self, user_id: str, action: str, target: str, changed: list[str] | None = None
    ) -> None:
        # A user's tokens concern every org the user is in.
        orgs, _ = await self._store.people.memberships(user_id)
        for org, _role in orgs:
            await self._audit.record(org.id, action, target, changed or [])

    # organizations -------------------------------------------------------

    async def create_org(self, who: Principal, name: str) -> Org:
        self._auth.require_admin(who)
        org = await self._store.people.create_org(name, time.time())
        await self._audit.record(org.id, "org.create", org.id, ["name"])
        return org

    async def org(self, who: Principal, org_id: str) -> Org:
        return await self._auth.org(who, org_id)

    async def orgs(self, who: Principal) -> list[Org]:
        if who.admin:
            return await self._store.people.orgs()
        if who.user_id is None:
            return []
        mine, _ = await self._store.people.memberships(who.user_id)
        return [org for org, _role in mine]

    async def org_members(self, who: Principal, org_id: str) -> list[OrgMember]:
        org = await self._auth.org(who, org_id)
        return await self._store.people.org_members(org.id)

    async def set_org_member(
        self, who: Principal, org_id: str, user_id: str, role: OrgRole
    ) -> OrgMember:
        org = await self._auth.org(who, org_id, manage=True)
        await self._existing_user(user_id)
        await self._keep_an_owner(who, org.id, user_id, role)
        await self._store.people.set_org_member(org.id, user_id, role, time.time())
        self._auth.forget()
        await self._audit.record(org.id, "org_member.set", user_id, ["role"])
        return next(m for m in await self._store.people.org_members(org.id) if m.user.id == user_id)

    async def remove_org_member(self, who: Principal, org_id: str, user_id: str) -> None:
        org = await self._auth.org(who, org_id, manage=True)
        await self._keep_an_owner(who, org.id, user_id, None)
        if not await self._store.people.remove_org_member(org.id, user_id):
            raise NotFound(f"user {user_id!r} is not a member of org {org_id!r}")
        self._auth.forget()
        await self._audit.record(org.id, "org_member.remove", user_id)

    async def _keep_an_owner(
        self, who: Principal, org_id: str, user_id: str, role: OrgRole | None
    ) -> None:
        """Refuse to leave an org without an owner, unless the administrator does it."""
        if who.admin or role is OrgRole.OWNER:
            return
        owners = [
            m.user.id
            for m in await self._store.people.org_members(org_id)
            if m.role is OrgRole.OWNER
        ]
        if owners == [user_id]:
            raise Conflict("an org keeps at least one owner: make another member owner first")

    async def _existing_user(self, user_id: str) -> None:
        if await self._store.people.user(user_id) is None:
            raise NotFound(f"user {user_id!r} not found")

    # app members ---------------------------------------------------------

    async def app_members(self, who: Principal, ref: str) -> list[AppMember]:
        """List them for whoever may view the app or manage its members."""
        try:
            app = await self._auth.app(who, ref, Action.MANAGE_MEMBERS)
        except Forbidden:
            app = await self._auth.app(who, ref, Action.VIEW)
        return await self._store.people.app_members(app.id)

    async def set_app_member(
        self, who: Principal, ref: str, user_id: str, role: AppRole
    ) -> AppMember:
        app = await self._auth.app(who, ref, Action.MANAGE_MEMBERS)
        await self._existing_user(user_id)
        await self._store.people.set_app_member(app.id, user_id, role, time.time())
        self._auth.forget()
        await self._audit.in_app(app, "app_member.set", user_id, ["role"])
        return next(m for m in await self._store.people.app_members(app.id) if m.user.id == user_id)

    async def remove_app_member(self, who: Principal, ref: str, user_id: str) -> None:
        app = await self._auth.app(who, ref, Action.MANAGE_MEMBERS)
        if not await self._store.people.remove_app_member(app.id, user_id):
            raise NotFound(f"user {user_id!r} is not a member of app {ref!r}")
        self._auth.forget()
        await self._audit.in_app(app, "app_member.remove", user_id)

    # who am I ------------------------------------------------------------

    async def me(self, who: Principal) -> Me:
        apps = await self.apps(who)
        if who.user_id is None:
            return Me(who, None, [], apps)
        user = await self._store.people.user(who.user_id)
        orgs, _ = await self._store.people.memberships(who.user_id)
        return Me(who, user, orgs, apps)

    async def apps(self, who: Principal) -> list[AppAccess]:
        """Return the apps the caller can see, with its roles in each."""
        every = await self._store.apps.all()
        if who.admin:
            return [AppAccess(a, None, None) for a in every]
        if who.app_id is not None:
            return [AppAccess(a, None, None) for a in every if a.id == who.app_id]
        if who.user_id is None:
            return []
        orgs, apps = await self._store.people.memberships(who.user_id)
        org_roles = {org.id: role for org, role in orgs}
        app_roles = {app_id: role for app_id, _org, role in apps}
        seen = []
        for app in every:
            org_role, app_role = org_roles.get(app.org_id), app_roles.get(app.id)
            if visible(org_role, app_role):
                seen.append(AppAccess(app, org_role, app_role))
        return seen
