"""pytest plugin: one PostgreSQL server per run, a fresh database per test.

    pg_server             session   PostgresServer, started by the first test that needs it
    pg_template_factory   session   (prepare, key=None) -> name of a template database, made once
    pg_template           session   template that pg_url copies; None here (override to set)
    pg_fresh_database     function  (template=None) -> url of a new database, dropped after the test
    pg_url                function  url of a fresh database copied from pg_template

Only tests that use these fixtures start the server, and they are marked
``postgres`` automatically, so ``-m "not postgres"`` never pays for it.

Each fresh database is ``CREATE DATABASE test_N TEMPLATE <template>``: a file
copy that costs milliseconds, however long ``prepare`` (e.g. migrations) took.
``prepare(url)`` is called once per key, outside any running event loop, and
must close every connection it opens (dispose SQLAlchemy engines); leftovers
are terminated, since PostgreSQL cannot copy a template someone is using.

Example ``tests/conftest.py``::

    from tests.support.pg_plugin import FreshDatabase, TemplateFactory

    pytest_plugins = ["tests.support.pg_plugin"]

    def migrate(url: str) -> None:
        asyncio.run(run_migrations(url))  # e.g. alembic upgrade head

    @pytest.fixture
    def pg_template(pg_template_factory: TemplateFactory) -> str:
        return pg_template_factory(migrate)  # now every pg_url is migrated

    # or, equivalently, build pg_url yourself:
    @pytest.fixture
    def pg_url(pg_template_factory: TemplateFactory, pg_fresh_database: FreshDatabase) -> str:
        return pg_fresh_database(pg_template_factory(migrate))

Inside a test, ``pg_fresh_database(template)`` makes further databases, e.g. one
per simulated node; ``pg_server.url(name)`` reaches any database by name.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Hashable, Iterator

import pytest

from tests.support.postgres import PostgresServer, run_outside_loop

__all__ = [
    "FreshDatabase",
    "TemplateFactory",
    "pg_fresh_database",
    "pg_server",
    "pg_template",
    "pg_template_factory",
    "pg_url",
]

Prepare = Callable[[str], None]
FreshDatabase = Callable[..., str]

_PG_FIXTURES = frozenset(
    {"pg_server", "pg_template_factory", "pg_template", "pg_fresh_database", "pg_url"}
)
_NOT_IDENTIFIER = re.compile(r"[^a-z0-9_]+")
_database_numbers = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs a PostgreSQL server (started by the tests)")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use a PostgreSQL fixture, before -m deselects by mark."""
    for item in items:
        if _PG_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


class TemplateFactory:
    """Make each template database once, by running its prepare callable."""

    def __init__(self, server: PostgresServer) -> None:
        self._server = server
        self._templates: dict[Hashable, str] = {}

    def __call__(self, prepare: Prepare, key: Hashable | None = None) -> str:
        """Return the template made by *prepare*, creating it on first use.

        *key* defaults to the callable's dotted name; pass one when the same
        function is prepared with different arguments (e.g. a functools.partial).
        """
        if key is None:
            key = _default_key(prepare)
        if key in self._templates:
            return self._templates[key]
        slug = _NOT_IDENTIFIER.sub("_", str(key).lower()).strip("_")[-40:]
        name = f"template_{len(self._templates) + 1}_{slug}".rstrip("_")
        url = self._server.create_database(name)
        try:
            run_outside_loop(lambda: prepare(url))
            self._server.seal_template(name)
        except BaseException:
            self._server.drop_database(name)
            raise
        self._templates[key] = name
        return name


def _default_key(prepare: Prepare) -> str:
    qualname = getattr(prepare, "__qualname__", None)
    if qualname is None:
        raise TypeError(f"pass key= to name the template prepared by {prepare!r}")
    return f"{prepare.__module__}.{qualname}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """Start one PostgreSQL server for the whole run."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def pg_template_factory(pg_server: PostgresServer) -> TemplateFactory:
    """Turn a prepare(url) callable into the name of a ready template database."""
    return TemplateFactory(pg_server)


@pytest.fixture(scope="session")
def pg_template() -> str | None:
    """Name the template pg_url copies; None gives empty databases."""
    return None


@pytest.fixture
def pg_fresh_database(pg_server: PostgresServer) -> Iterator[FreshDatabase]:
    """Create databases for this test (copies of a template, if given) and drop them after."""
    created: list[str] = []

    def fresh_database(template: str | None = None) -> str:
        name = f"test_{next(_database_numbers)}"
        url = pg_server.create_database(name, template=template)
        created.append(name)
        return url

    yield fresh_database
    for name in reversed(created):
        pg_server.drop_database(name)


@pytest.fixture
def pg_url(pg_fresh_database: FreshDatabase, pg_template: str | None) -> str:
    """Give this test its own database, copied from pg_template."""
    return pg_fresh_database(pg_template)
