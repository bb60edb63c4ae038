"""The delivery worker: claim due deliveries, send them within limits, record outcomes.

loop:  wait for work (a publish, a freed slot, or the poll interval)
       claim up to the free slots under a lease
       for each: build the request → send → settle → recorder
stop:  claim nothing more, let in-flight attempts finish within the grace
       period, give back (release) what did not finish
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

from hookd.config import Settings
from hookd.delivery.attempt import attempt
from hookd.delivery.recorder import Recorder
from hookd.delivery.request import System
from hookd.delivery.sender import Sender
from hookd.domain.retry import RetryPolicy
from hookd.metrics import ATTEMPT_SECONDS, ATTEMPTS, IN_FLIGHT
from hookd.store import Store
from hookd.store.records import Claimed

log = logging.getLogger(__name__)

PER_WEBHOOK_IN_FLIGHT = 10


class Worker:
    def __init__(self, store: Store, sender: Sender, settings: Settings) -> None:
        self._store = store
        self._sender = sender
        self._settings = settings
        self._policy = RetryPolicy(settings.retry_schedule, settings.retry_jitter)
        self._system = System.for_settings(settings)
        self._recorder = Recorder(store)
        self._tasks: dict[asyncio.Task[None], Claimed] = {}
        self._per_webhook: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(PER_WEBHOOK_IN_FLIGHT)
        )
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def start(self) -> None:
        self._recorder.start()
        self._loop_task = asyncio.create_task(self._loop(), name="hookd-worker")

    async def stop(self) -> None:
        """Stop claiming, finish or release what is in flight, flush records."""
        self._stopping.set()
        if self._loop_task:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        unfinished: list[Claimed] = []
        if self._tasks:
            _, not_done = await asyncio.wait(
                list(self._tasks), timeout=self._settings.shutdown_grace
            )
            unfinished = [self._tasks[t] for t in not_done]
            for task in not_done:
                task.cancel()
            await asyncio.gather(*not_done, return_exceptions=True)
        await self._recorder.stop(timeout=self._settings.shutdown_grace)
        if unfinished:
            with contextlib.suppress(Exception):
                await self._store.deliveries.release(unfinished, now=time.time())
            log.info("worker: released %d unfinished deliveries", len(unfinished))

    async def _loop(self) -> None:
        settings = self._settings
        low_water = max(1, settings.claim_batch // 4)
        while not self._stopping.is_set():
            free = settings.concurrency - self.in_flight
            claimed: list[Claimed] = []
            if free >= min(low_water, settings.concurrency):
                self._store.wakeup.clear()
                try:
                    claimed = await self._store.deliveries.claim(
                        min(free, settings.claim_batch),
                        lease_seconds=settings.lease_seconds,
                        now=time.time(),
                    )
                except Exception:
                    log.exception("worker: claiming failed; trying again")
                for item in claimed:
                    task = asyncio.create_task(self._deliver(item))
                    self._tasks[task] = item
                    task.add_done_callback(self._finished)
                IN_FLIGHT.set(self.in_flight)
                if len(claimed) == min(free, settings.claim_batch) and claimed:
                    continue  # more may be due right now
            await self._wait(settings.poll_interval)

    async def _wait(self, timeout: float) -> None:
        waiters = [
            asyncio.create_task(self._store.wakeup.wait()),
            asyncio.create_task(self._slot_freed.wait()),
            asyncio.create_task(self._stopping.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._slot_freed.clear()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        IN_FLIGHT.set(self.in_flight)
        if self.in_flight <= self._settings.concurrency - max(1, self._settings.claim_batch // 4):
            self._slot_freed.set()
        if not task.cancelled() and task.exception():
            log.error("worker: delivery task failed", exc_info=task.exception())

    async def _deliver(self, claimed: Claimed) -> None:
        async with self._per_webhook[claimed.webhook.id]:
            sent, record = await attempt(claimed, self._sender, self._policy, self._system)
        ATTEMPTS.labels(record.attempt.outcome).inc()
        ATTEMPT_SECONDS.observe(sent.duration_ms / 1000)
        self._recorder.put(record)
