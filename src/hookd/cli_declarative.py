"""`hookd apply -f hookd.yaml` and `hookd export`: webhooks kept in git, reviewed as diffs.

Like `hookd user|org|member`, these act on the database directly as the
instance administrator (creating orgs and apps needs one), through the same
services the API uses, so a file is refused wherever the API would refuse it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from hookd.declarative.plan import Plan, Services

T = TypeVar("T")

DbOpt = Annotated[
    str | None, typer.Option("--db", help="Database URL (env HOOKD_DB).", show_default=False)
]
SchemaOpt = Annotated[
    bool, typer.Option("--schema", help="Print the config file's JSON Schema and exit.")
]


def _run(db: str | None, dev: bool | None, work: Callable[[Services], Awaitable[T]]) -> T:
    from hookd.cli import settings_from
    from hookd.declarative.plan import Services
    from hookd.store import Store

    settings = settings_from(db=db, dev=dev)

    async def main() -> T:
        store = await Store.open(settings.db, migrate=True)
        try:
            await store.apps.ensure_default(time.time())
            return await work(Services.of(store, settings))
        finally:
            await store.close()

    return asyncio.run(main())


def _print_schema() -> None:
    from hookd.declarative.model import schema_text

    typer.echo(schema_text(), nl=False)


def apply_command(
    file: Annotated[
        str | None,
        typer.Option("-f", "--file", help="The config file (YAML or JSON; - reads stdin)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Also delete the webhooks and event types of the file's apps that it omits.",
        ),
    ] = False,
    schema: SchemaOpt = False,
    db: DbOpt = None,
    dev: Annotated[
        bool | None,
        typer.Option(
            "--dev/--no-dev",
            help="Allow http:// and private targets (env HOOKD_DEV).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Make orgs, apps, event types and webhooks match a config file (idempotent)."""
    from hookd.declarative.apply import ApplyError, apply
    from hookd.declarative.model import ConfigError, load
    from hookd.errors import HookdError

    if schema:
        _print_schema()
        return
    if file is None:
        typer.echo("give the config file: hookd apply -f hookd.yaml", err=True)
        raise typer.Exit(2)
    name, text, base = _read(file)
    try:
        config = load(text)

        async def work(services: Services) -> Plan:
            return await apply(services, config, base=base, dry_run=dry_run, prune=prune)

        plan = _run(db, dev, work)
    except ConfigError as exc:
        typer.echo(f"{name} cannot be applied:", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(2) from exc
    except ApplyError as exc:
        typer.echo(f"failed: {exc}", err=True)
        typer.echo("the changes before it were made; fix the file and apply again", err=True)
        raise typer.Exit(1) from exc
    except HookdError as exc:
        typer.echo(f"failed: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    _report(plan, dry_run=dry_run)


def _read(file: str) -> tuple[str, str, Path]:
    """Return (name to show, text, folder that relative `file:` references start from)."""
    if file == "-":
        return "stdin", sys.stdin.read(), Path.cwd()
    path = Path(file)
    try:
        return file, path.read_text(encoding="utf-8"), path.resolve().parent
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"cannot read {file}: {exc}", err=True)
        raise typer.Exit(2) from exc


def _report(plan: Plan, *, dry_run: bool) -> None:
    for change in plan.changes:
        for line in change.lines():
            typer.echo(line)
    if plan.empty:
        typer.echo("no changes")
    elif dry_run:
        typer.echo(f"dry run: {plan.summary()}; nothing was changed")
    else:
        n = plan.counts()
        typer.echo(f"applied: {n['create']} created, {n['update']} updated, {n['delete']} deleted")
    for note in plan.notes:
        typer.echo(f"note: {note}")
    if plan.kept:
        typer.echo(
            f"{plan.kept} webhooks or event types of these apps are not in the file:"
            " kept (--prune deletes them)"
        )


def export_command(
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="Write here instead of stdout.")
    ] = None,
    schema: SchemaOpt = False,
    db: DbOpt = None,
) -> None:
    """Print orgs, apps, event types and webhooks as a config file (secrets as references)."""
    from hookd.declarative.export import Exported, export, to_yaml

    if schema:
        _print_schema()
        return

    async def work(services: Services) -> Exported:
        return await export(services)

    exported = _run(db, None, work)
    text = to_yaml(exported)
    if output is None:
        typer.echo(text, nl=False)
        return
    Path(output).write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)
    if exported.env:
        typer.echo(f"its secrets are references; set {', '.join(exported.env)}", err=True)
