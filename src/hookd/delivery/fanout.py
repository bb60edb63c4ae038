"""Make the deliveries of deferred fan-outs (store/fanouts.py) as soon as they are owed.

Every hookd process runs one Expander, API and worker alike. The process that
deferred a fan-out expands it at once (the publish sets `store.fanouts_owed`
after its commit); every `poll` seconds each process also looks for fan-outs
left by another process, for instance one that stopped before it was done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hookd.background import MAX_BACKOFF, Loop, failed, stopping
from hookd.outage import OUTAGE
from hookd.store import Store
from hookd.store.fanouts import CHUNK

log = logging.getLogger(__name__)


class Expander(Loop):
    name = "hookd-fanout"

    def __init__(self, store: Store, *, poll: float, chunk: int = CHUNK) -> None:
        self._store = store
        self._poll = poll
        self._chunk = chunk  # owed webhooks per transaction

    async def run_once(self) -> int:
        """Make every owed delivery, a chunk per transaction; return how many webhooks."""
        done = 0
        while True:
            taken = await self._store.fanouts.expand(self._chunk)
            done += taken
            if taken < self._chunk:  # the last one took everything owed (or held elsewhere)
                return done

    async def _run(self) -> None:
        owed = self._store.fanouts_owed
        woken = True  # look once at start: a stopped process may have left some
        backoff = 0.0  # seconds between looks while the database is unreachable
        while True:
            owed.clear()  # a publish from now on sets it again
            try:
                if woken or await self._store.fanouts.owed():
                    await self.run_once()
            except Exception as exc:
                if stopping():
                    raise asyncio.CancelledError from exc
                if failed("fan-out: making deliveries", exc, log):  # the database down
                    backoff = min(max(backoff * 2, self._poll), MAX_BACKOFF)
                    await asyncio.sleep(backoff)
            else:
                if backoff:
                    OUTAGE.succeeded()
                backoff = 0.0
            woken = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(owed.wait(), self._poll)
                woken = True
