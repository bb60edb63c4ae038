"""Dependencies the routes declare: the runtime, the caller, the app they address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request

from hookd.domain.models import App
from hookd.runtime import Runtime
from hookd.service.auth import Principal


async def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


async def principal(
    rt: RuntimeDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    return await rt.auth.principal(authorization)


PrincipalDep = Annotated[Principal, Depends(principal)]


async def admin(rt: RuntimeDep, who: PrincipalDep) -> Principal:
    rt.auth.require_admin(who)
    return who


AdminDep = Annotated[Principal, Depends(admin)]


async def target_app(
    rt: RuntimeDep,
    who: PrincipalDep,
    app: Annotated[str, Path(description="App id (`app_…`) or uid, e.g. `default`.")],
) -> App:
    return await rt.auth.app(who, app)


AppDep = Annotated[App, Depends(target_app)]
