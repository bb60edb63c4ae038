"""Fixtures for integration tests: a real receiver and workers on the test's store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from hookd.config import Settings
from hookd.delivery.sender import Sender
from hookd.delivery.worker import Worker
from hookd.store import Store
from tests.support.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
async def start_worker(store: Store, settings: Settings) -> AsyncIterator[Callable[..., Worker]]:
    """Start workers with settings overridden per test; all are stopped afterwards."""
    running: list[tuple[Worker, Sender]] = []

    def start(**overrides: object) -> Worker:
        tuned = settings.model_copy(update=overrides)
        sender = Sender.for_settings(tuned)
        w = Worker(store, sender, tuned)
        w.start()
        running.append((w, sender))
        return w

    yield start
    for w, sender in running:
        await w.stop()
        await sender.close()


@pytest.fixture
async def worker(start_worker: Callable[..., Worker]) -> Worker:
    return start_worker()


@pytest.fixture
async def app_id(store: Store) -> str:
    return (await store.apps.ensure_default(time.time())).id
