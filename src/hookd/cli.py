"""The `hookd` command: serve | worker | migrate | send | listen | admin-key."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from typing import Annotated, Any

import typer
from rich.console import Console

from hookd import __version__
from hookd.config import Settings

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


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


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
    from hookd.runtime import Runtime

    settings = settings_from(host=host, port=port, db=db, dev=dev)
    _logging(settings.log_level)

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

    uvicorn.run(
        create_app(settings, worker=worker, on_ready=ready),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace),
    )


@app.command("worker")
def worker_command(db: DbOpt = None, dev: DevOpt = None) -> None:
    """Deliver only (for scale-out nodes); stops cleanly on SIGTERM."""
    import uvloop

    from hookd.runtime import Runtime

    settings = settings_from(db=db, dev=dev)
    _logging(settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runtime = await Runtime.start(settings, worker=True)
        console.print(f"hookd worker {__version__} delivering from {_redact(settings.db)}")
        sys.stdout.flush()
        await stop.wait()
        await runtime.stop()

    uvloop.run(main())


@app.command()
def migrate(db: DbOpt = None) -> None:
    """Apply the schema migrations."""
    from hookd.store import Store

    settings = settings_from(db=db)

    async def main() -> None:
        store = await Store.open(settings.db, migrate=True)
        await store.close()

    asyncio.run(main())
    console.print(f"database at {_redact(settings.db)} is up to date")


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
def send(
    type: Annotated[str, typer.Argument(help="Event type, e.g. job.success.")],
    data: Annotated[str, typer.Option(help="Event data as a JSON object.")] = "{}",
    app_ref: Annotated[str, typer.Option("--app", help="App id or uid.")] = "default",
    url: Annotated[
        str, typer.Option(envvar="HOOKD_URL", help="hookd's URL.")
    ] = "http://127.0.0.1:8000",
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
        typer.Option(envvar="HOOKD_LISTEN_SECRET", help="Verify signatures with this secret."),
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


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
