"""Shared fixtures: a store on each backend, settings for fast tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvloop

from hookd.config import Settings
from hookd.store import Store

pytest_plugins = ["tests.support.pg_plugin"]


def migrate_postgres(url: str) -> None:
    """Build the schema with hookd's migrations (the template every test copies)."""

    async def go() -> None:
        store = await Store.open(url)
        await store.close()

    asyncio.run(go())


@pytest.fixture
def pg_template(pg_template_factory: object) -> str:
    return pg_template_factory(migrate_postgres)  # type: ignore[operator, no-any-return]


# hookd runs on uvloop, whose transports differ from asyncio's; the modules
# that talk to sockets directly run on both loops.
BOTH_LOOPS = ("test_client.py", "test_guard.py")


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.path.name in BOTH_LOOPS:
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}  # one factory: test names stay as they are


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hookd.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Store]:
    s = await Store.open(url)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    async with opened(db_url) as s:
        yield s


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[Store]:
    """A store on PostgreSQL only, for what only PostgreSQL does."""
    async with opened(pg_url) as s:
        await s.apps.ensure_default(time.time())
        yield s


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings for in-process tests: dev mode, fast retries, short timeouts."""
    return Settings(
        db=db_url,
        dev=True,
        retry_schedule=(0.05, 0.05, 0.05),
        retry_jitter=0.0,
        request_timeout=2.0,
        lease_seconds=5.0,
        poll_interval=0.05,
        shutdown_grace=2.0,
    )
