"""Dependencies the routes declare: the runtime, the caller, the app they address.

Every route under `/v1/apps/{app}` declares the app through one of the
`…AppDep`s below, each naming the action it needs; they all go through
`Auth.app`, the one enforcement point of the role table (domain/roles.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Path, Request

from hookd.domain.models import App
from hookd.domain.roles import Action
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

AppRef = Annotated[str, Path(description="App id (`app_…`) or uid, e.g. `default`.")]


def _app_for(action: Action) -> Callable[[Runtime, Principal, str], Awaitable[App]]:
    async def target_app(rt: RuntimeDep, who: PrincipalDep, app: AppRef) -> App:
        return await rt.auth.app(who, app, action)

    return target_app


AppDep = Annotated[App, Depends(_app_for(Action.VIEW))]  # read
ChangeAppDep = Annotated[App, Depends(_app_for(Action.CHANGE))]  # change or send
PublishAppDep = Annotated[App, Depends(_app_for(Action.PUBLISH))]
