"""Request and response bodies for users, tokens, orgs, members and the audit log."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictBool

from hookd.api.schemas import Strict
from hookd.domain.envelope import rfc3339
from hookd.domain.models import ApiKey
from hookd.domain.people import AppMember, AuditEntry, Org, OrgMember, User
from hookd.domain.roles import AppRole, OrgRole
from hookd.service.people import Me

EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,255}$"


class _In(Strict):
    """A request body: unknown fields refused, NUL and lone surrogates too (schemas.Strict)."""


class UserIn(_In):
    email: str = Field(pattern=EMAIL, max_length=320, examples=["ada@example.com"])
    name: str = Field(min_length=1, max_length=200, examples=["Ada Lovelace"])
    password: str | None = Field(
        default=None,
        min_length=8,
        max_length=1024,
        description="Optional: a user without one signs in with tokens only. Never returned.",
    )
    admin: StrictBool = Field(default=False, description="Instance administrator.")


class UserPatch(_In):
    email: str | None = Field(default=None, pattern=EMAIL, max_length=320)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    admin: StrictBool | None = None

    def fields(self) -> dict[str, Any]:
        """Return the fields given; null leaves e-mail, name and admin as they are.

        (A null password removes the password: the user signs in with tokens only.)
        """
        given = self.model_dump(exclude_unset=True)
        return {k: v for k, v in given.items() if v is not None or k == "password"}


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    admin: bool
    has_password: bool
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            admin=user.admin,
            has_password=user.has_password,
            created_at=rfc3339(user.created_at),
            updated_at=rfc3339(user.updated_at),
        )


class TokenIn(_In):
    name: str = Field(min_length=1, max_length=200, examples=["ci"])


class TokenOut(BaseModel):
    id: str
    user_id: str
    name: str
    prefix: str
    created_at: str
    token: str | None = Field(default=None, description="Shown once, on create.")

    @classmethod
    def of(cls, key: ApiKey, plain: str | None = None) -> TokenOut:
        return cls(
            id=key.id,
            user_id=key.user_id or "",
            name=key.name,
            prefix=key.prefix,
            created_at=rfc3339(key.created_at),
            token=plain,
        )


class OrgIn(_In):
    name: str = Field(min_length=1, max_length=200, examples=["Acme"])


class OrgOut(BaseModel):
    id: str
    name: str
    created_at: str

    @classmethod
    def of(cls, org: Org) -> OrgOut:
        return cls(id=org.id, name=org.name, created_at=rfc3339(org.created_at))


class OrgMemberIn(_In):
    role: OrgRole


class AppMemberIn(_In):
    role: AppRole


class MemberOut(BaseModel):
    user: UserOut
    role: str
    created_at: str

    @classmethod
    def of(cls, member: OrgMember | AppMember) -> MemberOut:
        return cls(
            user=UserOut.of(member.user),
            role=member.role.value,
            created_at=rfc3339(member.created_at),
        )


class AuditOut(BaseModel):
    id: str
    org: str
    app: str | None
    actor: str = Field(description="`usr_…`, `key_…` or `admin`.")
    action: str = Field(examples=["webhook.update"])
    target: str
    changed: list[str] = Field(description="The fields that changed (never their values).")
    at: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        return cls(
            id=entry.id,
            org=entry.org_id,
            app=entry.app_id,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            changed=list(entry.changed),
            at=rfc3339(entry.at),
        )


class MyOrg(BaseModel):
    id: str
    name: str
    role: str


class MyApp(BaseModel):
    id: str
    uid: str
    name: str
    org: str
    org_role: str | None
    app_role: str | None


class MeOut(BaseModel):
    kind: str = Field(description="`admin`, `user` or `app_key`.")
    admin: bool
    user: UserOut | None
    key_role: str | None = Field(description="An app key's role.")
    orgs: list[MyOrg]
    apps: list[MyApp]

    @classmethod
    def of(cls, me: Me) -> MeOut:
        who = me.principal
        kind = "user" if who.user_id else ("app_key" if who.app_id else "admin")
        return cls(
            kind=kind,
            admin=who.admin,
            user=UserOut.of(me.user) if me.user else None,
            key_role=who.key_role.value if who.key_role else None,
            orgs=[MyOrg(id=o.id, name=o.name, role=r.value) for o, r in me.orgs],
            apps=[
                MyApp(
                    id=a.app.id,
                    uid=a.app.uid,
                    name=a.app.name,
                    org=a.app.org_id,
                    org_role=a.org_role.value if a.org_role else None,
                    app_role=a.app_role.value if a.app_role else None,
                )
                for a in me.apps
            ],
        )
