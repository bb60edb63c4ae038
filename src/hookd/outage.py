"""Tell a database that cannot be reached from a bug, and say so once per outage.

`unavailable(exc)` looks through an exception's causes for the errors an
unreachable, restarting, overloaded or locked database raises (SQLAlchemy,
asyncpg, aiosqlite/sqlite3, the socket). `OUTAGE` is this process's record of
the current outage: the first failure logs one line, the first success after
it one more, whatever loop or request saw them.
"""

from __future__ import annotations

import logging
import sqlite3
import time

import asyncpg
import sqlalchemy.exc

__all__ = ["OUTAGE", "Outage", "unavailable"]

log = logging.getLogger("hookd.database")

_ASYNCPG = (
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InterfaceError,  # "connection is closed"
)
# sqlite3 raises OperationalError for bad SQL too: only these mean "cannot use the file now".
_SQLITE_MESSAGES = (
    "database is locked",
    "database table is locked",
    "unable to open database file",
    "disk i/o error",
    "file is not a database",
    "readonly database",
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 32:
        e = todo.pop()
        if any(e is s for s in seen):
            continue
        seen.append(e)
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)
    return seen


def unavailable(exc: BaseException) -> bool:
    """Tell whether `exc` says the database cannot be reached (rather than a bug)."""
    for e in _chain(exc):
        if isinstance(e, sqlalchemy.exc.TimeoutError):  # no pooled connection in time
            return True
        if isinstance(e, sqlalchemy.exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, (*_ASYNCPG, ConnectionError, TimeoutError)):
            return True
        if isinstance(e, (sqlite3.OperationalError, sqlite3.DatabaseError)) and any(
            m in str(e).lower() for m in _SQLITE_MESSAGES
        ):
            return True
    return False


class Outage:
    """The current database outage of this process, if any."""

    def __init__(self) -> None:
        self.since: float | None = None  # time.monotonic() of the first failure
        self.failures = 0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, operation: str, exc: BaseException) -> None:
        """Note a failure; the first of an outage is logged."""
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            log.warning(
                "database unreachable (%s: %s: %s); retrying with backoff until it is back",
                operation,
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
            )

    def succeeded(self) -> None:
        """Note a success; the first after an outage is logged."""
        if self.since is not None:
            log.warning(
                "database reachable again after %.1f s (%d failed operations)",
                time.monotonic() - self.since,
                self.failures,
            )
            self.since, self.failures = None, 0


OUTAGE = Outage()
