"""The PostgreSQL test harness: one server, fresh databases copied from templates."""

from __future__ import annotations

import asyncio
import functools
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from tests.support.pg_plugin import FreshDatabase, TemplateFactory
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres


def create_items(url: str) -> None:
    """Prepare a template: one table with one row."""

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)")
            await conn.execute("INSERT INTO items VALUES (1, 'from the template')")
        finally:
            await conn.close()

    asyncio.run(run())


async def fetch(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(query)
        return rows
    finally:
        await conn.close()


class TestServer:
    async def test_runs_postgresql_15(self, pg_server: PostgresServer) -> None:
        [row] = await fetch(pg_server.url(), "SELECT version()")
        assert row["version"].startswith("PostgreSQL 15.")

    async def test_listens_on_loopback_with_test_settings(self, pg_server: PostgresServer) -> None:
        rows = await fetch(
            pg_server.url(),
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('listen_addresses', 'fsync', 'synchronous_commit', 'full_page_writes',"
            " 'max_connections', 'port')",
        )
        settings = {row["name"]: row["setting"] for row in rows}
        assert settings == {
            "listen_addresses": "127.0.0.1",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "port": str(pg_server.port),
        }
        assert pg_server.url("x") == f"postgresql://postgres@127.0.0.1:{pg_server.port}/x"

    def test_stop_shuts_down_and_removes_its_directory(self) -> None:
        server = PostgresServer().start()
        tempdir = server.tempdir
        assert tempdir is not None
        assert tempdir.is_dir()
        assert tempdir.stat().st_mode & 0o777 == 0o755
        url = server.url()
        server.stop()
        server.stop()  # idempotent
        assert not Path(tempdir).exists()
        with pytest.raises(OSError):
            asyncio.run(fetch(url, "SELECT 1"))

    def test_server_of_a_killed_test_run_is_stopped_and_removed(self) -> None:
        child = subprocess.run(
            [sys.executable, "-c", KILLED_RUN],
            cwd=Path(__file__).parents[2],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert child.returncode == -signal.SIGKILL, child.stderr
        tempdir, port = child.stdout.split()
        deadline = time.monotonic() + 15
        while Path(tempdir).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(tempdir).exists()
        with pytest.raises(OSError):
            asyncio.run(fetch(f"postgresql://postgres@127.0.0.1:{port}/postgres", "SELECT 1"))


KILLED_RUN = """
import os, signal
from tests.support.postgres import PostgresServer
server = PostgresServer().start()
print(server.tempdir, server.port, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


class TestTemplates:
    async def test_fresh_databases_copy_the_template_and_are_independent(
        self, pg_template_factory: TemplateFactory, pg_fresh_database: FreshDatabase
    ) -> None:
        template = pg_template_factory(create_items)
        first = pg_fresh_database(template)
        second = pg_fresh_database(template)

        for url in (first, second):
            assert [tuple(r) for r in await fetch(url, "SELECT * FROM items")] == [
                (1, "from the template")
            ]
        await fetch(first, "INSERT INTO items VALUES (2, 'only in the first') RETURNING id")

        assert len(await fetch(first, "SELECT * FROM items")) == 2
        assert len(await fetch(second, "SELECT * FROM items")) == 1

    def test_prepares_each_template_once(self, pg_template_factory: TemplateFactory) -> None:
        calls: list[str] = []

        def prepare(url: str) -> None:
            calls.append(url)

        name = pg_template_factory(prepare)
        assert pg_template_factory(prepare) == name
        assert len(calls) == 1
        assert pg_template_factory(prepare, key="another") != name
        assert len(calls) == 2
        with pytest.raises(TypeError, match="key="):
            pg_template_factory(functools.partial(prepare))

    async def test_template_refuses_connections(
        self, pg_server: PostgresServer, pg_template_factory: TemplateFactory
    ) -> None:
        template = pg_template_factory(create_items)
        with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError):
            await fetch(pg_server.url(template), "SELECT 1")

    async def test_fresh_database_without_template_is_empty(
        self, pg_fresh_database: FreshDatabase
    ) -> None:
        url = pg_fresh_database()
        tables = await fetch(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert tables == []

    async def test_pg_url_copies_pg_template(self, pg_url: str, pg_template: str | None) -> None:
        copied = await fetch(pg_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        if pg_template is None:  # the plugin's default; a conftest may name a migrated template
            assert copied[0]["count"] == 0
        else:
            assert copied[0]["count"] > 0


class TestDrop:
    async def test_drop_removes_the_database(self, pg_server: PostgresServer) -> None:
        url = pg_server.create_database("harness_drop")
        conn = await asyncpg.connect(url)  # still connected: drop must not wait for it
        try:
            pg_server.drop_database("harness_drop")
        finally:
            conn.terminate()
        names = await fetch(pg_server.url(), "SELECT datname FROM pg_database")
        assert "harness_drop" not in {row["datname"] for row in names}
        with pytest.raises(asyncpg.InvalidCatalogNameError):
            await fetch(url, "SELECT 1")

    def test_fresh_databases_are_dropped_after_each_test(
        self, pg_server: PostgresServer, pg_fresh_database: FreshDatabase
    ) -> None:
        url = pg_fresh_database()
        names = asyncio.run(fetch(pg_server.url(), "SELECT datname FROM pg_database"))
        live = {row["datname"] for row in names if row["datname"].startswith("test_")}
        # Earlier tests' databases are gone; only the one made here remains.
        assert live == {url.rsplit("/", 1)[1]}
