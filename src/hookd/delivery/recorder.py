"""Write attempt records in batches: one transaction for many attempts.

A record that cannot be written is kept and tried again; if the process dies
first, the delivery's lease runs out and another attempt is made, which is
what at-least-once means.
"""

from __future__ import annotations

import asyncio
import logging
import time

from hookd.metrics import RECORD_ERRORS
from hookd.store import Store
from hookd.store.records import AttemptRecord

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self, store: Store, *, max_batch: int = 1000) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: asyncio.Queue[AttemptRecord] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hookd-recorder")

    def put(self, record: AttemptRecord) -> None:
        self._idle.clear()
        self._queue.put_nowait(record)

    async def drain(self, timeout: float) -> None:
        """Wait until everything queued so far is written (or `timeout` passes)."""
        try:
            async with asyncio.timeout(timeout):
                while not (self._queue.empty() and self._idle.is_set()):
                    await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("recorder: %d attempt records unwritten at shutdown", self._queue.qsize())

    async def stop(self, timeout: float = 10.0) -> None:
        await self.drain(timeout)
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        pending: list[AttemptRecord] = []
        delay = 0.05
        while True:
            if not pending:
                if self._queue.empty():
                    self._idle.set()
                pending.append(await self._queue.get())
            while len(pending) < self._max_batch and not self._queue.empty():
                pending.append(self._queue.get_nowait())
            try:
                await self._store.deliveries.record(pending, now=time.time())
            except Exception:
                RECORD_ERRORS.inc()
                log.exception("recorder: writing %d attempt records failed; retrying", len(pending))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.05
            pending = []
