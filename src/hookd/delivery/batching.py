"""Flushing: a queued webhook's waiting events become batch deliveries.

    flush_webhook   take batches (up to batch_max_events each, in batch_order)
                    until nothing queued before the flush began is left; the
                    worker then sends each batch like any delivery
    Scheduler       in every process that runs the worker: flush each webhook
                    with a batch_interval when its next_flush_at comes round
    next_flush_at   when a webhook whose mode or interval changed flushes next

Who flushes: `hookd flush` (cron), `POST …/webhooks/{id}/flush`, the
scheduler, and switching a webhook from queued to immediate. They may run at
once: each batch is taken in one transaction, so an event is in one batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hookd.background import Loop, every
from hookd.store import Store
from hookd.store.batches import Batch, FlushDue

log = logging.getLogger(__name__)

# After a switch from queued to immediate (or to fifo ordering), look once more this
# much later: a publish that read the old settings may commit just after the switch.
STRAGGLER_SECONDS = 5.0


@dataclass
class Flushed:
    """What one flush made."""

    batches: list[Batch] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(len(b.event_ids) for b in self.batches)


async def flush_webhook(
    store: Store,
    webhook_id: str,
    *,
    before: float | None = None,
    on_batch: Callable[[Batch], None] | None = None,
) -> Flushed:
    """Turn everything the webhook has queued (up to `before`, default now) into batches."""
    cutoff = time.time() if before is None else before
    flushed = Flushed()
    while batch := await store.batches.take(webhook_id, now=time.time(), before=cutoff):
        flushed.batches.append(batch)
        if on_batch is not None:
            on_batch(batch)
    return flushed


def next_flush_at(
    mode: str, batch_interval: float | None, *, switched: bool, now: float
) -> float | None:
    """Return when the scheduler next flushes a webhook that now has this mode and interval.

    `switched`: it leaves queued mode or becomes fifo, so stragglers are looked for.
    """
    if mode == "queued":
        return None if batch_interval is None else now + batch_interval
    return now + STRAGGLER_SECONDS if switched else None


class Scheduler(Loop):
    """Flush webhooks on their batch_interval; one process wins each due flush."""

    name = "hookd-batch-scheduler"

    def __init__(self, store: Store, tick: float) -> None:
        self._store = store
        self._tick = tick

    async def run_once(self) -> int:
        """Flush what is due now; return the batches made."""
        made = 0
        now = time.time()
        for due in await self._store.batches.due(now):
            later = _after(due, now)
            if not await self._store.batches.book(due, later):
                continue  # another process took this round
            flushed = await flush_webhook(self._store, due.webhook_id, before=now)
            # A straggler check after a switch to fifo: what a publish made from the
            # settings it read just before the switch joins the line too.
            await self._store.deliveries.line_up(due.webhook_id)
            if flushed.batches:
                log.info(
                    "scheduler: webhook %s: %d batches carrying %d events",
                    due.webhook_id,
                    len(flushed.batches),
                    flushed.events,
                )
            made += len(flushed.batches)
        return made

    async def _run(self) -> None:
        await every(self._tick, self.run_once, what="scheduler: flushing", log=log)


def _after(due: FlushDue, now: float) -> float | None:
    """Return the next flush time after this one (None: none is scheduled)."""
    if due.mode == "queued" and due.batch_interval is not None:
        return now + due.batch_interval
    return None  # a straggler check after a switch to immediate, or an interval removed
