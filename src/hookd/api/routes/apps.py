"""Apps and their API keys (admin)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError

from hookd.api.deps import AdminDep, AppDep, PrincipalDep, RuntimeDep
from hookd.api.schemas import ApiKeyIn, ApiKeyOut, AppIn, AppOut
from hookd.errors import Conflict, NotFound
from hookd.service.auth import hash_key, new_key

router = APIRouter(prefix="/v1/apps", tags=["apps"])


@router.post("", status_code=201)
async def create_app(body: AppIn, rt: RuntimeDep, _: AdminDep) -> AppOut:
    try:
        app = await rt.store.apps.create(body.uid, body.name or body.uid, time.time())
    except IntegrityError as exc:
        raise Conflict(f"an app with uid {body.uid!r} exists") from exc
    return AppOut.of(app)


@router.get("")
async def list_apps(rt: RuntimeDep, who: PrincipalDep) -> list[AppOut]:
    apps = await rt.store.apps.all()
    return [AppOut.of(a) for a in apps if who.is_admin or a.id == who.app_id]


@router.get("/{app}")
async def get_app(app: AppDep) -> AppOut:
    return AppOut.of(app)


@router.post("/{app}/api-keys", status_code=201)
async def create_key(body: ApiKeyIn, app: AppDep, rt: RuntimeDep, _: AdminDep) -> ApiKeyOut:
    plain = new_key()
    key = await rt.store.apps.add_key(app.id, body.name, plain[:8], hash_key(plain), time.time())
    return ApiKeyOut.of(key, plain)


@router.get("/{app}/api-keys")
async def list_keys(app: AppDep, rt: RuntimeDep, _: AdminDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.of(k) for k in await rt.store.apps.list_keys(app.id)]


@router.delete("/{app}/api-keys/{key_id}", status_code=204)
async def revoke_key(key_id: str, app: AppDep, rt: RuntimeDep, _: AdminDep) -> None:
    if not await rt.store.apps.revoke_key(app.id, key_id, time.time()):
        raise NotFound(f"api key {key_id!r} not found")
    rt.auth.forget()
