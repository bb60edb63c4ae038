"""hookd's app served in-process (no socket): its lifespan, and an admin client over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from hookd.api.app import create_app
from hookd.config import Settings

ADMIN = "hk_admin_in_process_test_key_0123456789"


@asynccontextmanager
async def served(settings: Settings, *, worker: bool, **overrides: Any) -> AsyncIterator[FastAPI]:
    """Run the app's lifespan (store, worker when asked) with ADMIN as the admin key."""
    app = create_app(settings.model_copy(update={"admin_key": ADMIN, **overrides}), worker=worker)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def admin_client(app: FastAPI, **kw: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client that calls `app` directly, as the instance admin."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://hookd.test",
        headers={"Authorization": f"Bearer {ADMIN}"},
        **kw,
    ) as client:
        yield client
