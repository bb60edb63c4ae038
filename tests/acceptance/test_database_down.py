"""PostgreSQL stopped under a running hookd: 503 JSON with Retry-After, /readyz says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.polling import eventually_sync
from tests.support.postgres import PostgresServer
from tests.support.server import HookdProcess


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own: it is stopped and started again mid-test."""
    with PostgresServer() as server:
        yield server


def _pg_ctl(server: PostgresServer, *args: str) -> None:
    server._pg("pg_ctl", "-D", str(server.datadir), "-l", str(server.logfile), "-w", *args)


class TestDatabaseDown:
    def test_answers_503_while_down_and_recovers(
        self, own_postgres: PostgresServer, tmp_path: Path
    ) -> None:
        url = own_postgres.create_database("hookd_down")
        with HookdProcess(url, tmp_path) as hookd, hookd.client() as client:
            event = {"type": "job.start", "data": {}}
            assert client.post("/v1/apps/default/events", json=event).status_code == 202
            assert client.get("/readyz").status_code == 200

            _pg_ctl(own_postgres, "-m", "fast", "stop")
            for _ in range(3):
                published = client.post("/v1/apps/default/events", json=event)
                assert published.status_code == 503, published.text
                assert published.headers["retry-after"] == "5"
                assert published.json()["error"]["code"] == "database_unavailable"
                listed = client.get("/v1/apps/default/webhooks")
                assert listed.status_code == 503, listed.text
                assert listed.json()["error"]["code"] == "database_unavailable"
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["down"] == ["database"]
            assert client.get("/healthz").status_code == 200
            metrics = client.get("/metrics")  # reads the database too: answers 503 JSON
            assert metrics.status_code == 503

            _pg_ctl(own_postgres, "start")
            eventually_sync(
                lambda: client.get("/readyz").status_code == 200,
                timeout=15,
                what="/readyz 200 after PostgreSQL restarts",
            )
            assert client.post("/v1/apps/default/events", json=event).status_code == 202
            assert "hookd_database_errors_total" in client.get("/metrics").text
            log = hookd.output()
            assert log.count("database unreachable") == 1, log
            assert log.count("database reachable again") == 1, log
            assert "Internal Server Error" not in log
            assert "claiming failed" not in log and "Traceback" not in log, log
