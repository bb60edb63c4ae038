"""Acceptance fixtures: a real `hookd serve` on a real database, a real receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.receiver import Receiver
from tests.support.server import HookdProcess


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def hookd_factory(db_url: str, tmp_path: Path) -> Iterator[Callable[..., HookdProcess]]:
    """Start hookd processes on the test's database; every one is stopped afterwards."""
    made: list[HookdProcess] = []

    def make(**kw: Any) -> HookdProcess:
        process = HookdProcess(kw.pop("db", db_url), tmp_path, **kw)
        made.append(process)
        return process

    yield make
    for process in made:
        process.kill()


@pytest.fixture
def hookd(hookd_factory: Callable[..., HookdProcess]) -> HookdProcess:
    return hookd_factory().start()


@pytest.fixture
def api(hookd: HookdProcess) -> Iterator[httpx.Client]:
    with hookd.client() as client:
        yield client


def create_event_type(api: httpx.Client, name: str = "job.success", **kw: Any) -> None:
    r = api.post("/v1/apps/default/event-types", json={"name": name, **kw})
    assert r.status_code in (201, 409), r.text


def create_webhook(api: httpx.Client, url: str, **kw: Any) -> dict[str, Any]:
    if "event" not in kw:
        kw.setdefault("events", ["job.success"])
    for name in kw.get("events") or [kw["event"]]:
        if "*" not in name:
            create_event_type(api, name)
    r = api.post("/v1/apps/default/webhooks", json={"url": url, **kw})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body
