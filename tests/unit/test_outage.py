"""Which errors mean "the database cannot be reached", and one log line per outage."""

from __future__ import annotations

import logging
import sqlite3

import asyncpg
import pytest
import sqlalchemy.exc

from hookd.outage import Outage, unavailable


def _wrapped(inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise RuntimeError("while publishing") from exc
    except RuntimeError as outer:
        return outer


class TestUnavailable:
    @pytest.mark.parametrize(
        "exc",
        [
            sqlite3.OperationalError("database is locked"),
            sqlite3.OperationalError("unable to open database file"),
            asyncpg.CannotConnectNowError("the database system is starting up"),
            asyncpg.TooManyConnectionsError("too many clients"),
            ConnectionRefusedError(111, "Connect call failed"),
            TimeoutError(),
            sqlalchemy.exc.TimeoutError("QueuePool limit reached"),
        ],
    )
    def test_the_database_out_of_reach(self, exc: BaseException) -> None:
        assert unavailable(exc) and unavailable(_wrapped(exc))

    @pytest.mark.parametrize(
        "exc",
        [sqlite3.OperationalError("no such table: nothing"), ValueError("bug"), KeyError("x")],
    )
    def test_bugs_are_not_outages(self, exc: BaseException) -> None:
        assert not unavailable(exc) and not unavailable(_wrapped(exc))


class TestOutage:
    def test_one_line_when_it_starts_and_one_when_it_ends(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        outage = Outage()
        with caplog.at_level(logging.WARNING, logger="hookd.database"):
            for _ in range(50):
                outage.failed("worker: claiming", ConnectionRefusedError())
            assert outage.down
            for _ in range(5):
                outage.succeeded()
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 2, lines
        assert lines[0].startswith("database unreachable (worker: claiming")
        assert lines[1].startswith("database reachable again after") and "50 failed" in lines[1]
        assert not outage.down
