"""Apply the schema migrations (Alembic) to a database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """Return an Alembic config pointing at hookd's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


async def revision(engine: AsyncEngine) -> str | None:
    """Return the database's schema revision, or None when it has no hookd schema yet."""

    def current(sync_connection: Any) -> str | None:
        heads = MigrationContext.configure(sync_connection).get_current_heads()
        return max(heads) if heads else None

    async with engine.connect() as connection:
        return await connection.run_sync(current)


def migrated(before: str | None, after: str | None) -> str:
    """Say what a migration did: created the schema, upgraded it, or found it up to date."""
    if before is None:
        return f"created database schema at revision {after}"
    if before == after:
        return f"database schema is up to date (revision {after})"
    return f"upgraded database schema from revision {before} to {after}"


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database up to `revision`."""
    cfg = alembic_config()

    def run(sync_connection: Any) -> None:
        cfg.attributes["connection"] = sync_connection
        command.upgrade(cfg, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def is_current(engine: AsyncEngine) -> bool:
    """Tell whether the database is at the newest revision."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())

    def current(sync_connection: Any) -> set[str]:
        return set(MigrationContext.configure(sync_connection).get_current_heads())

    async with engine.connect() as connection:
        return await connection.run_sync(current) == heads
