"""People and their teams: users, organizations, memberships, the audit log."""

from __future__ import annotations

from dataclasses import dataclass

from hookd.domain.roles import AppRole, OrgRole

DEFAULT_ORG_ID = "org_" + "0" * 26  # made by migration 0007; apps without an org go there


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    name: str
    admin: bool
    has_password: bool
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class Org:
    id: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class OrgMember:
    org_id: str
    user: User
    role: OrgRole
    created_at: float


@dataclass(frozen=True, slots=True)
class AppMember:
    app_id: str
    user: User
    role: AppRole
    created_at: float


@dataclass(frozen=True, slots=True)
class Roles:
    """A user's two roles for one app."""

    org: OrgRole | None
    app: AppRole | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    org_id: str
    app_id: str | None
    actor: str
    action: str
    target: str
    changed: tuple[str, ...]
    at: float
