"""The `hookd` command.

serve | worker | migrate | purge | flush | recover | send | listen | admin-key
user create|list | org create|list | member set|remove   (cli_teams.py)
apply -f FILE [--dry-run] [--prune] | export [-o FILE]     (cli_declarative.py)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from hookd import __version__
from hookd.config import Settings

if TYPE_CHECKING:
    from hookd.store import Store


def _flags_show_no_type() -> None:
    """Show flags (`--help`, `--dev/--no-dev`) without a `<bool>`: they take no value.

    Typer 0.29 labels every option in the help panel with its type, flags included.
    """
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display  # type: ignore[method-assign]


_flags_show_no_type()

app = typer.Typer(
    name="hookd",
    help="A self-hosted webhook service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False, highlight=False)

DbOpt = Annotated[
    str | None, typer.Option("--db", help="Database URL (env HOOKD_DB).", show_default=False)
]
DevOpt = Annotated[
    bool | None,
    typer.Option(
        "--dev/--no-dev",
        help="Allow http:// and private targets (env HOOKD_DEV).",
        show_default=False,
    ),
]


def settings_from(**given: Any) -> Settings:
    """Return settings from the environment, overridden by the flags given."""
    try:
        return Settings(**{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        console.print(f"[red]invalid setting:[/red] {exc}")
        raise typer.Exit(2) from exc


def _logging(level: str, libraries: str = "warning") -> None:
    from hookd.logs import configure

    configure(level, libraries)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (env HOOKD_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (env HOOKD_PORT).")] = None,
    db: DbOpt = None,
    dev: DevOpt = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run the delivery worker in this process.")
    ] = True,
) -> None:
    """Run the API, the delivery worker and the scheduler in one process."""
    import uvicorn

    from hookd.api.app import create_app
    from hookd.api.protocol import HookdHttp
    from hookd.runtime import Runtime, collect_less

    settings = settings_from(host=host, port=port, db=db, dev=dev)
    _logging(settings.log_level, settings.log_level_libraries)

    def ready(rt: Runtime) -> None:
        url = settings.base_url
        console.print(f"[bold]hookd {__version__}[/bold] serving on {url}")
        console.print(f"  API docs:  {url}/docs")
        console.print(f"  database:  {_redact(settings.db)}")
        console.print(
            f"  worker:    {'on' if worker else 'off'}{'  (dev mode)' if settings.dev else ''}"
        )
        if rt.new_admin_key:
            console.print(f"  admin key: [bold]{rt.new_admin_key}[/bold]  (shown once; store it)")
        sys.stdout.flush()

    application = create_app(settings, worker=worker, children=worker, on_ready=ready)
    collect_less()
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=HookdHttp,  # JSON answers to requests uvicorn refuses (api/protocol.py)
        log_level=settings.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace),
    )


@app.command("worker")
def worker_command(
    db: DbOpt = None,
    dev: DevOpt = None,
    follow_parent: Annotated[
        bool,
        typer.Option(
            "--follow-parent",
            help="Wake on each byte read from stdin; stop at its end (children of `hookd serve`).",
        ),
    ] = False,
) -> None:
    """Deliver only (for scale-out nodes); stops cleanly on SIGTERM."""
    import uvloop

    from hookd.runtime import Runtime, collect_less

    settings = settings_from(db=db, dev=dev)
    _logging(settings.log_level, settings.log_level_libraries)
    collect_less()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runtime = await Runtime.start(settings, worker=True)
        if follow_parent:
            from hookd.delivery.processes import follow

            await follow(runtime.store.wakeup.set, stop.set)
        console.print(f"hookd worker {__version__} delivering from {_redact(settings.db)}")
        sys.stdout.flush()
        await stop.wait()
        await runtime.stop()

    uvloop.run(main())


@app.command()
def migrate(db: DbOpt = None) -> None:
    """Apply the schema migrations (creating the schema in a new database)."""
    from hookd.store.engine import open_engines
    from hookd.store.migrate import migrated, revision, upgrade

    settings = settings_from(db=db)

    async def main() -> str:
        engines = open_engines(settings.db)
        try:
            before = await revision(engines.write)
            await upgrade(engines.write)
            return migrated(before, await revision(engines.write))
        finally:
            await engines.dispose()

    console.print(f"{asyncio.run(main())}: {_redact(settings.db)}")


@app.command("admin-key")
def admin_key(db: DbOpt = None) -> None:
    """Issue a new admin key (the old generated one stops working) and print it once."""
    import time

    from hookd.service.auth import hash_key, new_key
    from hookd.store import Store

    settings = settings_from(db=db)
    key = new_key()

    async def main() -> None:
        store = await Store.open(settings.db, migrate=True)
        await store.apps.replace_admin_key(key[:8], hash_key(key), time.time())
        await store.close()

    asyncio.run(main())
    console.print(f"admin key: [bold]{key}[/bold]")


@app.command()
def purge(
    db: DbOpt = None,
    days: Annotated[
        float | None,
        typer.Option(help="Keep this many days (env HOOKD_RETENTION_DAYS).", show_default=False),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Rows looked at per transaction.")] = 5000,
) -> None:
    """Delete finished deliveries, their attempts and events older than the retention."""
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from hookd.store import Store
    from hookd.store.retention import Purged, Step

    settings = settings_from(db=db, retention_days=days)
    if settings.retention_days <= 0:
        console.print("[red]retention is off[/red] (HOOKD_RETENTION_DAYS=0); pass --days N")
        raise typer.Exit(2)
    before = time.time() - settings.retention_days * 86400
    began = time.monotonic()
    cutoff = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(before))
    console.print(
        f"purging what finished before {cutoff} ({settings.retention_days:g} days)"
        f" from {_redact(settings.db)}"
    )

    async def main() -> Purged:
        store = await Store.open(settings.db, migrate=True)
        columns = (
            TextColumn("{task.description:<10}"),
            BarColumn(),
            TextColumn("{task.fields[deleted]:>12,} deleted"),
            TextColumn("[dim]reached {task.fields[reached]}[/dim]"),
            TimeElapsedColumn(),
        )
        try:
            with Progress(*columns, console=console) as progress:
                tasks: dict[str, Any] = {}

                def show(step: Step) -> None:
                    if step.phase not in tasks:
                        tasks[step.phase] = progress.add_task(
                            step.phase, total=1.0, deleted=0, reached=""
                        )
                    progress.update(
                        tasks[step.phase],
                        completed=step.fraction,
                        deleted=getattr(step.purged, step.phase),
                        reached=time.strftime("%Y-%m-%d %H:%M", time.gmtime(step.reached)),
                    )

                purged = await store.retention.purge(before=before, batch=batch, progress=show)
                for task in tasks.values():
                    progress.update(task, completed=1.0)
            return purged
        finally:
            await store.close()

    purged = asyncio.run(main())
    table = Table("deleted", "rows")
    table.columns[1].justify = "right"
    for name in ("deliveries", "attempts", "events"):
        table.add_row(name, f"{getattr(purged, name):,}")
    console.print(table)
    console.print(
        f"{purged.transactions:,} transactions of up to {batch:,} rows each,"
        f" {time.monotonic() - began:.1f} s"
    )


@app.command()
def flush(
    webhook: Annotated[
        str | None, typer.Option(help="Only this webhook (wh_…).", show_default=False)
    ] = None,
    app_ref: Annotated[
        str | None, typer.Option("--app", help="Only this app's webhooks (id or uid).")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Send queued (batch-mode) events now: each webhook's queue becomes batch deliveries.

    For cron. The batches are made here; the running `hookd serve` or `hookd
    worker` sends them (retried, signed and logged like any delivery).
    Several flushes may run at once: each event goes in exactly one batch.
    """
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from hookd.delivery.batching import Flushed, flush_webhook
    from hookd.store import Store
    from hookd.store.batches import Batch

    settings = settings_from(db=db)
    began = time.monotonic()

    async def main() -> tuple[int, Flushed]:
        store = await Store.open(settings.db, migrate=True)
        try:
            app_id = await _app_id(store, app_ref, webhook)
            started = time.time()
            queues = await store.batches.queued(app_id=app_id, webhook_id=webhook)
            flushed = Flushed()
            columns = (
                TextColumn("flushing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("events"),
            )
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("flush", total=sum(queues.values()))

                def made(batch: Batch) -> None:
                    progress.advance(task, len(batch.event_ids))

                for webhook_id in queues:
                    done = await flush_webhook(store, webhook_id, before=started, on_batch=made)
                    flushed.batches.extend(done.batches)
            return len(queues), flushed
        finally:
            await store.close()

    webhooks, flushed = asyncio.run(main())
    console.print(
        f"made {_count(len(flushed.batches), 'batch', 'batches')}"
        f" carrying {_count(flushed.events, 'event', 'events')}"
        f" for {_count(webhooks, 'webhook', 'webhooks')} in {time.monotonic() - began:.1f} s"
    )
    if flushed.batches:
        console.print("the running hookd serve or hookd worker sends them")


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


async def _app_id(store: Store, app_ref: str | None, webhook_id: str | None) -> str | None:
    """Resolve --app (and check that --webhook exists); exit 2 naming what is unknown."""
    app_id = None
    if app_ref is not None:
        found = await store.apps.get(app_ref)
        if found is None:
            console.print(f"[red]no app {app_ref!r}[/red]")
            raise typer.Exit(2)
        app_id = found.id
    if webhook_id is not None:
        apps = [app_id] if app_id else [a.id for a in await store.apps.all()]
        if not any([await store.webhooks.get(a, webhook_id) for a in apps]):
            console.print(f"[red]no webhook {webhook_id!r}[/red]")
            raise typer.Exit(2)
    return app_id


@app.command()
def recover(
    webhook: Annotated[str, typer.Option(help="The webhook (wh_…).", show_default=False)],
    since: Annotated[
        str, typer.Option(help="Window start, RFC 3339 (2026-11-22T04:00:00Z).", show_default=False)
    ],
    until: Annotated[
        str | None, typer.Option(help="Window end, RFC 3339 (default: now).", show_default=False)
    ] = None,
    app_ref: Annotated[str, typer.Option("--app", help="The webhook's app (id or uid).")] = (
        "default"
    ),
    db: DbOpt = None,
) -> None:
    """Send again a webhook's failed deliveries created in a window (like POST …/recover).

    The deliveries become pending here; the running `hookd serve` or `hookd
    worker` sends them. A disabled webhook's wait until it is enabled.
    """
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from hookd.errors import HookdError
    from hookd.service.recovery import RecoveryService, Window
    from hookd.store import Store

    settings = settings_from(db=db)
    start, end = _moment("--since", since), _moment("--until", until) if until else None

    async def main() -> tuple[int, Window]:
        store = await Store.open(settings.db, migrate=True)
        try:
            found = await store.apps.get(app_ref)
            if found is None:
                console.print(f"[red]no app {app_ref!r}[/red]")
                raise typer.Exit(2)
            service = RecoveryService(store)
            window = Window(start, end, now=time.time())
            total = await service.count(found, webhook, window)
            columns = (TextColumn("recovering"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("recover", total=total)
                count = await service.recover(
                    found, webhook, window, progress=lambda n: progress.advance(task, n)
                )
            return count, window
        except HookdError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(2) from exc
        finally:
            await store.close()

    count, window = asyncio.run(main())
    console.print(
        f"{count} failed deliver{'y' if count == 1 else 'ies'} of {webhook} created"
        f" {_utc(window.since)} to {_utc(window.until)} will be sent again"
    )


def _moment(option: str, value: str) -> float:
    """Read an RFC 3339 time from the command line; exit 2 saying what is wrong."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        console.print(
            f"[red]{option} must be an RFC 3339 time with a zone[/red], e.g. 2026-11-22T04:00:00Z"
        )
        raise typer.Exit(2)
    return moment.timestamp()


def _utc(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@app.command()
def send(
    type: Annotated[str, typer.Argument(help="Event type, e.g. job.success.")],
    data: Annotated[str, typer.Option(help="Event data as a JSON object.")] = "{}",
    app_ref: Annotated[str, typer.Option("--app", help="App id or uid.")] = "default",
    url: Annotated[
        str | None,
        typer.Option(
            envvar="HOOKD_URL",
            help="hookd's URL (default: http://$HOOKD_HOST:$HOOKD_PORT, else http://127.0.0.1:8000).",
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        str | None, typer.Option(envvar=["HOOKD_API_KEY", "HOOKD_ADMIN_KEY"], help="API key.")
    ] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Idempotency key.")] = None,
) -> None:
    """Publish an event through the API."""
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        console.print(f"[red]--data is not JSON:[/red] {exc}")
        raise typer.Exit(2) from exc
    if not key:
        console.print("[red]no API key:[/red] pass --key or set HOOKD_API_KEY")
        raise typer.Exit(2)
    if url is None:
        host, port = os.environ.get("HOOKD_HOST", "127.0.0.1"), os.environ.get("HOOKD_PORT", "8000")
        url = f"http://{host}:{port}"
    body = json.dumps({"type": type, "data": payload}).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    request = urllib.request.Request(  # noqa: S310 - the URL is the user's own hookd
        f"{url.rstrip('/')}/v1/apps/{app_ref}/events", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            console.print_json(response.read().decode())
    except urllib.error.HTTPError as exc:
        console.print(f"[red]{exc.code}[/red] {exc.read().decode()}")
        raise typer.Exit(1) from exc
    except urllib.error.URLError as exc:
        console.print(f"[red]cannot reach hookd at {url}:[/red] {exc.reason}")
        raise typer.Exit(1) from exc


@app.command()
def listen(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    secret: Annotated[
        str | None,
        typer.Option(
            envvar="HOOKD_LISTEN_SECRET",
            help="Verify signatures with this secret (or an ed25519 whpk_ public key).",
        ),
    ] = None,
    status: Annotated[int, typer.Option(help="Status code to answer with.")] = 200,
) -> None:
    """Run a local receiver that prints each request and whether its signature verifies."""
    from hookd.listen import run

    run(host, port, secret, status)


@app.command()
def version() -> None:
    """Print hookd's version."""
    console.print(__version__)


def _redact(url: str) -> str:
    """Hide a password in a database URL."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def _teams() -> None:
    from hookd import cli_teams

    app.add_typer(cli_teams.users, name="user")
    app.add_typer(cli_teams.orgs, name="org")
    app.add_typer(cli_teams.members, name="member")


_teams()


def _declarative() -> None:
    from hookd import cli_declarative

    app.command("apply")(cli_declarative.apply_command)
    app.command("export")(cli_declarative.export_command)


_declarative()


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
