"""Migrations: built from nothing they give exactly the models' schema, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from hookd.store.engine import open_engines
from hookd.store.migrate import alembic_config, is_current, upgrade
from hookd.store.tables import metadata


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no schema) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    fresh: Callable[[], str] = request.getfixturevalue("pg_fresh_database")
    return fresh()


def differences(sync_connection: Any, models: sa.MetaData = metadata) -> list[Any]:
    """Return what autogenerate would change to make the database match the models."""
    context = MigrationContext.configure(
        sync_connection,
        opts={
            "compare_type": True,
            "compare_server_default": same_empty_default,
            "render_as_batch": sync_connection.dialect.name == "sqlite",
        },
    )
    diffs: list[Any] = compare_metadata(context, models)
    return diffs


def same_empty_default(
    _context: Any,
    _inspected: Any,
    _model: Any,
    inspected_default: str | None,
    _model_default: Any,
    rendered_model_default: str | None,
) -> bool | None:
    """Compare server defaults as Alembic does, except the empty string on SQLite.

    SQLite reflects `server_default=""` as `('')`, which Alembic's SQLite
    comparison does not unquote, so it would report every one as changed.
    None defers to Alembic's own comparison.
    """
    if rendered_model_default == "" and inspected_default in ("''", "('')"):
        return False
    return None


def table_names(sync_connection: Any) -> set[str]:
    return set(sa.inspect(sync_connection).get_table_names())


def downgrade_to(revision: str) -> Callable[[Any], None]:
    def run(sync_connection: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_connection
        command.downgrade(cfg, revision)

    return run


class TestMigrations:
    async def test_from_nothing_to_head_matches_the_models(self, empty_db_url: str) -> None:
        engines = open_engines(empty_db_url)
        try:
            async with engines.write.connect() as conn:
                assert await conn.run_sync(table_names) == set()
            await upgrade(engines.write)
            assert await is_current(engines.write)
            async with engines.write.connect() as conn:
                assert await conn.run_sync(differences) == []
                assert await conn.run_sync(table_names) == {*metadata.tables, "alembic_version"}
        finally:
            await engines.dispose()

    async def test_down_to_base_and_up_again(self, empty_db_url: str) -> None:
        engines = open_engines(empty_db_url)
        try:
            await upgrade(engines.write)
            async with engines.write.begin() as conn:
                await conn.run_sync(downgrade_to("base"))
            async with engines.write.connect() as conn:
                assert await conn.run_sync(table_names) <= {"alembic_version"}
            assert not await is_current(engines.write)
            await upgrade(engines.write)
            assert await is_current(engines.write)
            async with engines.write.connect() as conn:
                assert await conn.run_sync(differences) == []
        finally:
            await engines.dispose()

    async def test_every_revision_steps_down_and_up(self, empty_db_url: str) -> None:
        """Each migration's downgrade undoes its upgrade, one step at a time."""
        script = ScriptDirectory.from_config(alembic_config())
        revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
        engines = open_engines(empty_db_url)
        try:
            await upgrade(engines.write)
            for revision in reversed(revisions):
                async with engines.write.begin() as conn:
                    await conn.run_sync(downgrade_to("-1"))
                await upgrade(engines.write, revision)
                async with engines.write.begin() as conn:
                    await conn.run_sync(downgrade_to("-1"))
            async with engines.write.connect() as conn:
                assert await conn.run_sync(table_names) <= {"alembic_version"}
            await upgrade(engines.write)
            async with engines.write.connect() as conn:
                assert await conn.run_sync(differences) == []
        finally:
            await engines.dispose()

    async def test_a_model_change_without_a_migration_is_caught(self, empty_db_url: str) -> None:
        changed = sa.MetaData()
        for table in metadata.tables.values():
            table.to_metadata(changed)
        changed.tables["events"].append_column(sa.Column("note", sa.Text))
        changed.tables["deliveries"].c.last_error.type = sa.String(10)
        engines = open_engines(empty_db_url)
        try:
            await upgrade(engines.write)
            async with engines.write.connect() as conn:
                found = await conn.run_sync(differences, changed)
        finally:
            await engines.dispose()
        # Column changes come grouped in a list; table-level ones come alone.
        flat = [d for item in found for d in (item if isinstance(item, list) else [item])]
        assert {(d[0], d[2], d[3] if isinstance(d[3], str) else d[3].name) for d in flat} == {
            ("add_column", "events", "note"),
            ("modify_type", "deliveries", "last_error"),
        }
