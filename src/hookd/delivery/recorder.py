"""Write attempt records in batches: one transaction for many attempts.

A record that cannot be written is kept and tried again; if the process dies
first, the delivery's lease runs out and another attempt is made, which is
what at-least-once means.

A finished batch then passes its outcome to the deliveries of the events it
carried (store/batches.py); that is a second, separate write, so if it fails
they keep showing `sending` while the batch itself shows the outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from hookd.domain.health import Limits
from hookd.domain.models import FINISHED
from hookd.metrics import RECORD_ERRORS
from hookd.store import Store
from hookd.store.deliveries import DEFAULT_LIMITS
from hookd.store.health import Incident
from hookd.store.records import AttemptRecord

log = logging.getLogger(__name__)


class Recorder:
    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 1000,
        limits: Limits = DEFAULT_LIMITS,
        mail: bool = False,
        on_incidents: Callable[[list[Incident]], None] | None = None,
    ) -> None:
        """Record with these health `limits`, noting failures for e-mail when `mail`.

        `on_incidents` hears what the records did to webhooks, once committed.
        """
        self._store = store
        self._max_batch = max_batch
        self._limits = limits
        self._mail = mail
        self._on_incidents = on_incidents
        self._queue: asyncio.Queue[tuple[AttemptRecord, asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hookd-recorder")

    def put(self, record: AttemptRecord) -> asyncio.Future[None]:
        """Queue a record; the future resolves once it is committed.

        The worker holds a delivery's slot until then, so a worker that dies
        owes at most its concurrency in attempts that must be made again.
        """
        self._idle.clear()
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((record, written))
        return written

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
        pending: list[tuple[AttemptRecord, asyncio.Future[None]]] = []
        delay = 0.05
        while True:
            if not pending:
                if self._queue.empty():
                    self._idle.set()
                pending.append(await self._queue.get())
            while len(pending) < self._max_batch and not self._queue.empty():
                pending.append(self._queue.get_nowait())
            try:
                incidents = await self._store.deliveries.record(
                    [record for record, _ in pending],
                    now=time.time(),
                    limits=self._limits,
                    mail=self._mail,
                )
            except Exception:
                RECORD_ERRORS.inc()
                log.exception("recorder: writing %d attempt records failed; retrying", len(pending))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.05
            for _, written in pending:
                if not written.done():
                    written.set_result(None)
            if incidents and self._on_incidents is not None:
                self._on_incidents(incidents)
            if any(r.ordered and r.status in FINISHED for r, _ in pending):
                self._store.new_work()  # the next in a FIFO line is due now
            await self._settle_batches([record for record, _ in pending])
            pending = []

    async def _settle_batches(self, records: list[AttemptRecord]) -> None:
        batch_ids = [r.attempt.delivery_id for r in records if r.batch]
        if not batch_ids:
            return
        try:
            await self._store.batches.settle(batch_ids, now=time.time())
        except Exception:
            log.exception(
                "recorder: passing %d batch outcomes to their events failed", len(batch_ids)
            )
