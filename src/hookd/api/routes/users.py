"""Users and their tokens (the administrator, or a user for itself); who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hookd.api.deps import PrincipalDep, RuntimeDep
from hookd.api.schemas import PageOut
from hookd.api.teams import MeOut, TokenIn, TokenOut, UserIn, UserOut, UserPatch

router = APIRouter(tags=["users"])

Limit = Annotated[int, Query(ge=1, le=250, description="Page size.")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.")]


@router.get("/v1/me")
async def me(rt: RuntimeDep, who: PrincipalDep) -> MeOut:
    """Who the caller is: the user, its orgs and the apps it can see, with its roles."""
    return MeOut.of(await rt.people.me(who))


@router.post("/v1/users", status_code=201)
async def create_user(body: UserIn, rt: RuntimeDep, who: PrincipalDep) -> UserOut:
    user = await rt.people.create_user(who, body.email, body.name, body.password, body.admin)
    return UserOut.of(user)


@router.get("/v1/users")
async def list_users(
    rt: RuntimeDep, who: PrincipalDep, limit: Limit = 50, cursor: Cursor = None
) -> PageOut[UserOut]:
    users = await rt.people.users(who, limit + 1, cursor)
    more = len(users) > limit
    users = users[:limit]
    return PageOut(data=[UserOut.of(u) for u in users], next_cursor=users[-1].id if more else None)


@router.get("/v1/users/{user_id}")
async def get_user(user_id: str, rt: RuntimeDep, who: PrincipalDep) -> UserOut:
    return UserOut.of(await rt.people.user(who, user_id))


@router.patch("/v1/users/{user_id}")
async def update_user(user_id: str, body: UserPatch, rt: RuntimeDep, who: PrincipalDep) -> UserOut:
    return UserOut.of(await rt.people.update_user(who, user_id, body.fields()))


@router.delete("/v1/users/{user_id}", status_code=204)
async def delete_user(user_id: str, rt: RuntimeDep, who: PrincipalDep) -> None:
    await rt.people.delete_user(who, user_id)


@router.post("/v1/users/{user_id}/tokens", status_code=201)
async def create_token(user_id: str, body: TokenIn, rt: RuntimeDep, who: PrincipalDep) -> TokenOut:
    """Issue a token that authenticates as the user; `token` is shown only here."""
    token, plain = await rt.people.create_token(who, user_id, body.name)
    return TokenOut.of(token, plain)


@router.get("/v1/users/{user_id}/tokens")
async def list_tokens(user_id: str, rt: RuntimeDep, who: PrincipalDep) -> list[TokenOut]:
    return [TokenOut.of(t) for t in await rt.people.tokens(who, user_id)]


@router.delete("/v1/users/{user_id}/tokens/{token_id}", status_code=204)
async def revoke_token(user_id: str, token_id: str, rt: RuntimeDep, who: PrincipalDep) -> None:
    await rt.people.revoke_token(who, user_id, token_id)
