"""No exception leaves hookd's API as plain text: 503 for the database, JSON 500 otherwise."""

from __future__ import annotations

import logging
import sqlite3

import httpx
import pytest
from fastapi import FastAPI

from hookd.api import errors


def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/locked")
    async def locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    @app.get("/bug")
    async def bug() -> None:
        raise KeyError("oops")

    app.add_middleware(errors.LastResort)
    return app


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://hookd") as client:
        return await client.get(path)


class TestLastResort:
    async def test_a_database_error_is_a_503_with_retry_after(self) -> None:
        answer = await _get("/locked")
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert answer.json()["error"]["code"] == "database_unavailable"

    async def test_a_bug_is_a_json_500_logged_once(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.ERROR):
            answer = await _get("/bug")
        assert answer.status_code == 500
        assert answer.json() == {
            "error": {"code": "internal_error", "message": "internal server error", "details": None}
        }
        logged = [r for r in caplog.records if r.exc_info]
        assert len(logged) == 1 and "GET /bug" in logged[0].getMessage()
