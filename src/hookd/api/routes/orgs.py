"""Organizations, their members and their audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hookd.api.deps import PrincipalDep, RuntimeDep
from hookd.api.schemas import PageOut
from hookd.api.teams import AuditOut, MemberOut, OrgIn, OrgMemberIn, OrgOut

router = APIRouter(prefix="/v1/orgs", tags=["orgs"])

Limit = Annotated[int, Query(ge=1, le=250, description="Page size.")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.")]


@router.post("", status_code=201)
async def create_org(body: OrgIn, rt: RuntimeDep, who: PrincipalDep) -> OrgOut:
    return OrgOut.of(await rt.people.create_org(who, body.name))


@router.get("")
async def list_orgs(rt: RuntimeDep, who: PrincipalDep) -> list[OrgOut]:
    """The orgs the caller belongs to (all of them, for the administrator)."""
    return [OrgOut.of(o) for o in await rt.people.orgs(who)]


@router.get("/{org}")
async def get_org(org: str, rt: RuntimeDep, who: PrincipalDep) -> OrgOut:
    return OrgOut.of(await rt.people.org(who, org))


@router.get("/{org}/members")
async def list_org_members(org: str, rt: RuntimeDep, who: PrincipalDep) -> list[MemberOut]:
    return [MemberOut.of(m) for m in await rt.people.org_members(who, org)]


@router.put("/{org}/members/{user_id}")
async def set_org_member(
    org: str, user_id: str, body: OrgMemberIn, rt: RuntimeDep, who: PrincipalDep
) -> MemberOut:
    """Add a member or change its role (the administrator or an org owner)."""
    return MemberOut.of(await rt.people.set_org_member(who, org, user_id, body.role))


@router.delete("/{org}/members/{user_id}", status_code=204)
async def remove_org_member(org: str, user_id: str, rt: RuntimeDep, who: PrincipalDep) -> None:
    await rt.people.remove_org_member(who, org, user_id)


@router.get("/{org}/audit")
async def org_audit(
    org: str, rt: RuntimeDep, who: PrincipalDep, limit: Limit = 50, cursor: Cursor = None
) -> PageOut[AuditOut]:
    """Who changed what in the org, newest first (the administrator or an org owner)."""
    found = await rt.auth.org(who, org, manage=True)
    entries = await rt.audit.page(found.id, limit + 1, cursor)
    more = len(entries) > limit
    entries = entries[:limit]
    return PageOut(
        data=[AuditOut.of(e) for e in entries], next_cursor=entries[-1].id if more else None
    )
