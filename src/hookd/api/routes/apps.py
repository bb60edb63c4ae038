"""Apps, their API keys (admin) and their members."""

from __future__ import annotations

from fastapi import APIRouter

from hookd.api.deps import AdminDep, AppDep, AppRef, PrincipalDep, RuntimeDep
from hookd.api.schemas import ApiKeyIn, ApiKeyOut, AppIn, AppOut
from hookd.api.teams import AppMemberIn, MemberOut

router = APIRouter(prefix="/v1/apps", tags=["apps"])


@router.post("", status_code=201)
async def create_app(body: AppIn, rt: RuntimeDep, who: PrincipalDep) -> AppOut:
    return AppOut.of(await rt.apps.create(who, body.uid, body.name, body.org))


@router.get("")
async def list_apps(rt: RuntimeDep, who: PrincipalDep) -> list[AppOut]:
    """The apps the caller can see."""
    return [AppOut.of(a.app) for a in await rt.people.apps(who)]


@router.get("/{app}")
async def get_app(app: AppDep) -> AppOut:
    return AppOut.of(app)


@router.post("/{app}/api-keys", status_code=201)
async def create_key(body: ApiKeyIn, app: AppDep, rt: RuntimeDep, who: AdminDep) -> ApiKeyOut:
    key, plain = await rt.apps.create_key(who, app, body.name, body.role)
    return ApiKeyOut.of(key, plain)


@router.get("/{app}/api-keys")
async def list_keys(app: AppDep, rt: RuntimeDep, who: AdminDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.of(k) for k in await rt.apps.keys(who, app)]


@router.delete("/{app}/api-keys/{key_id}", status_code=204)
async def revoke_key(key_id: str, app: AppDep, rt: RuntimeDep, who: AdminDep) -> None:
    await rt.apps.revoke_key(who, app, key_id)


@router.get("/{app}/members")
async def list_app_members(app: AppRef, rt: RuntimeDep, who: PrincipalDep) -> list[MemberOut]:
    return [MemberOut.of(m) for m in await rt.people.app_members(who, app)]


@router.put("/{app}/members/{user_id}")
async def set_app_member(
    app: AppRef, user_id: str, body: AppMemberIn, rt: RuntimeDep, who: PrincipalDep
) -> MemberOut:
    """Add a member or change its role (the administrator, an org owner or an app owner)."""
    return MemberOut.of(await rt.people.set_app_member(who, app, user_id, body.role))


@router.delete("/{app}/members/{user_id}", status_code=204)
async def remove_app_member(app: AppRef, user_id: str, rt: RuntimeDep, who: PrincipalDep) -> None:
    await rt.people.remove_app_member(who, app, user_id)
