"""Build the FastAPI application; its lifespan owns the process's runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hookd import __version__
from hookd.api import contract, errors, middleware
from hookd.api.docs import install_docs
from hookd.api.fastpath import FastPublish
from hookd.api.routes import (
    apps,
    batches,
    deliveries,
    event_types,
    events,
    health,
    orgs,
    portal,
    recovery,
    users,
    webhooks,
)
from hookd.config import Settings
from hookd.console import install as install_console
from hookd.runtime import Runtime

DESCRIPTION = """
hookd receives events from your applications and delivers them to the webhooks
subscribed to them: signed, retried, logged. Authenticate with
`Authorization: Bearer KEY` (the admin key, an app's API key, or a user's token).
"""


def create_app(
    settings: Settings,
    *,
    worker: bool = True,
    children: bool = False,
    on_ready: Callable[[Runtime], None] | None = None,
) -> FastAPI:
    """Return the API app; starting it starts the store (and the worker when asked).

    `children`: start HOOKD_DELIVERY_PROCESSES - 1 more delivery processes too.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings, worker=worker, children=children)
        app.state.runtime = runtime
        if on_ready:
            on_ready(runtime)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="hookd",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=contract.operation_id,
    )
    contract.install(app)
    install_docs(app)
    errors.install(app)
    # Publishing is the hot path: its routes are matched first.
    for module in (
        events,
        health,
        apps,
        event_types,
        webhooks,
        batches,
        deliveries,
        recovery,
        users,
        orgs,
        portal,
    ):
        app.include_router(module.router)
    install_console(app)  # the web console at /console
    app.add_middleware(middleware.JsonBodies)
    app.add_middleware(middleware.BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(FastPublish, limit=settings.max_body_bytes)
    app.add_middleware(errors.LastResort)  # outermost of ours: no exception leaves as plain text
    return app
