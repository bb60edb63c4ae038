"""`hookd user`, `hookd org`, `hookd member`: bootstrap teams without curl.

These act on the database directly, as the instance administrator (whoever
can reach the database is one), through the same services the API uses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from hookd.service.people import PeopleService
    from hookd.store import Store

T = TypeVar("T")
console = Console(highlight=False)

users = typer.Typer(help="Users: create and list.", no_args_is_help=True)
orgs = typer.Typer(help="Organizations: create and list.", no_args_is_help=True)
members = typer.Typer(help="Members of orgs and apps: set a role, remove.", no_args_is_help=True)

DbOpt = Annotated[
    str | None, typer.Option("--db", help="Database URL (env HOOKD_DB).", show_default=False)
]


def _run(db: str | None, work: Callable[[Store, PeopleService], Awaitable[T]]) -> T:
    from hookd.cli import settings_from
    from hookd.errors import HookdError
    from hookd.service.audit import AuditService
    from hookd.service.auth import Auth
    from hookd.service.people import PeopleService
    from hookd.store import Store

    settings = settings_from(db=db)

    async def main() -> T:
        store = await Store.open(settings.db, migrate=True)
        try:
            await store.apps.ensure_default(time.time())
            auth = Auth(store, None)
            return await work(store, PeopleService(store, auth, AuditService(store)))
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except HookdError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc


async def _user_id(store: Store, ref: str) -> str:
    """Accept a user id or an e-mail."""
    from hookd.errors import NotFound

    if ref.startswith("usr_"):
        return ref
    found = await store.people.password_hash(ref.lower())
    if found is None:
        raise NotFound(f"no user with email {ref!r}")
    return found[0]


@users.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="E-mail, used to sign in.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    admin: Annotated[bool, typer.Option(help="Make an instance administrator.")] = False,
    password: Annotated[
        bool, typer.Option("--password", help="Ask for a password (else tokens only).")
    ] = False,
    token: Annotated[
        str | None, typer.Option(help="Also issue a token with this name; printed once.")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Create a user."""
    from hookd.service.auth import ADMIN

    secret = (
        typer.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None
    )

    async def work(store: Store, people: PeopleService) -> tuple[str, str | None]:
        user = await people.create_user(ADMIN, email, name, secret, admin)
        plain = None
        if token:
            _, plain = await people.create_token(ADMIN, user.id, token)
        return user.id, plain

    user_id, plain = _run(db, work)
    console.print(f"user {user_id} ({email.lower()})")
    if plain:
        console.print(f"token: [bold]{plain}[/bold]   (shown once)")


@users.command("list")
def user_list(db: DbOpt = None) -> None:
    """List users."""
    from hookd.service.auth import ADMIN

    async def work(store: Store, people: PeopleService) -> list[tuple[str, str, str, bool]]:
        found = await people.users(ADMIN, 10_000, None)
        return [(u.id, u.email, u.name, u.admin) for u in found]

    table = Table("id", "email", "name", "admin")
    for user_id, email, name, is_admin in _run(db, work):
        table.add_row(user_id, email, name, "yes" if is_admin else "")
    console.print(table)


@orgs.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="The org's name.")], db: DbOpt = None
) -> None:
    """Create an organization."""
    from hookd.service.auth import ADMIN

    async def work(store: Store, people: PeopleService) -> str:
        return (await people.create_org(ADMIN, name)).id

    console.print(f"org {_run(db, work)} ({name})")


@orgs.command("list")
def org_list(db: DbOpt = None) -> None:
    """List organizations."""
    from hookd.service.auth import ADMIN

    async def work(store: Store, people: PeopleService) -> list[tuple[str, str]]:
        return [(o.id, o.name) for o in await people.orgs(ADMIN)]

    table = Table("id", "name")
    for org_id, name in _run(db, work):
        table.add_row(org_id, name)
    console.print(table)


@members.command("set")
def member_set(
    user: Annotated[str, typer.Option(help="User id or e-mail.")],
    role: Annotated[str, typer.Option(help="org: owner|member|viewer; app: owner|viewer.")],
    org: Annotated[str | None, typer.Option(help="Org id.")] = None,
    app: Annotated[str | None, typer.Option(help="App id or uid.")] = None,
    db: DbOpt = None,
) -> None:
    """Give a user a role in an org (--org) or an app (--app)."""
    from hookd.domain.roles import AppRole, OrgRole
    from hookd.service.auth import ADMIN

    if (org is None) == (app is None):
        console.print("[red]give exactly one of --org and --app[/red]")
        raise typer.Exit(2)
    roles = [r.value for r in (OrgRole if org else AppRole)]
    if role not in roles:
        console.print(f"[red]--role must be one of {', '.join(roles)}[/red]")
        raise typer.Exit(2)

    async def work(store: Store, people: PeopleService) -> None:
        user_id = await _user_id(store, user)
        if org is not None:
            await people.set_org_member(ADMIN, org, user_id, OrgRole(role))
        elif app is not None:
            await people.set_app_member(ADMIN, app, user_id, AppRole(role))

    _run(db, work)
    console.print(f"{user} is {role} of {org or app}")


@members.command("remove")
def member_remove(
    user: Annotated[str, typer.Option(help="User id or e-mail.")],
    org: Annotated[str | None, typer.Option(help="Org id.")] = None,
    app: Annotated[str | None, typer.Option(help="App id or uid.")] = None,
    db: DbOpt = None,
) -> None:
    """Remove a user from an org (--org) or an app (--app)."""
    from hookd.service.auth import ADMIN

    if (org is None) == (app is None):
        console.print("[red]give exactly one of --org and --app[/red]")
        raise typer.Exit(2)

    async def work(store: Store, people: PeopleService) -> None:
        user_id = await _user_id(store, user)
        if org is not None:
            await people.remove_org_member(ADMIN, org, user_id)
        elif app is not None:
            await people.remove_app_member(ADMIN, app, user_id)

    _run(db, work)
    console.print(f"{user} removed from {org or app}")
