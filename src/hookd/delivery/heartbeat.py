"""This process's claim on its leases: a heartbeat, and taking over the dead's.

    begin   register this process (a `workers` row) and take over what processes
            gone from this host held (a restart after kill -9 frees its old leases)
    loop    every HOOKD_HEARTBEAT_SECONDS: beat, then take over from processes whose
            heartbeat is older than HOOKD_HEARTBEAT_TIMEOUT (or that are gone)
    owns    whether a claim was made under the current owner id: after a pause
            long enough for others to take over, the old id is dropped, and what
            was claimed under it and not yet sent is left to them
    stop    delete the row (what it held has been released by then)

Records of attempts made under a lease that was taken over are fenced by their
claim token (store/deliveries.py): kept as `superseded`, applied to nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable

from hookd import ids
from hookd.background import failed
from hookd.config import Settings
from hookd.metrics import LEASES_TAKEN_OVER
from hookd.outage import OUTAGE
from hookd.store import Store
from hookd.store.records import Claimed
from hookd.store.workers import Owner, Reaped, host_identity

__all__ = ["Heartbeat"]

log = logging.getLogger(__name__)


def new_owner() -> Owner:
    return Owner(ids.new_id("wrk"), host_identity(), os.getpid())


class Heartbeat:
    def __init__(
        self, store: Store, settings: Settings, *, on_released: Callable[[], None] | None = None
    ) -> None:
        """`on_released` is called when deliveries were taken over (work is due)."""
        self._store = store
        self._every = settings.heartbeat_seconds
        self._timeout = settings.heartbeat_timeout
        self._on_released = on_released
        self.owner = new_owner()
        self._task: asyncio.Task[None] | None = None
        self._down = False

    @property
    def owner_id(self) -> str:
        return self.owner.id

    def owns(self, claimed: Claimed) -> bool:
        """Tell whether this claim was made under the current owner id."""
        return claimed.claim_token.startswith(self.owner.id + ":")

    async def begin(self) -> None:
        """Register and take over from the dead; a failure is retried by the loop."""
        try:
            await self._store.workers.register(self.owner, now=time.time())
            await self._reap()
        except Exception as exc:
            self._down = bool(failed("heartbeat: registering", exc, log))
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="hookd-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        with contextlib.suppress(Exception):
            await self._store.workers.leave(self.owner.id)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.beat()
            except Exception as exc:
                self._down = bool(failed("heartbeat", exc, log)) or self._down
            else:
                if self._down:
                    OUTAGE.succeeded()
                self._down = False

    async def beat(self) -> None:
        """Renew this process's row (anew, under a new id, if others took it over); reap."""
        now = time.time()
        kept, reaped = await self._store.workers.beat(self.owner, now=now, stale=self._timeout)
        self._took_over(reaped)
        if not kept:
            old, self.owner = self.owner.id, new_owner()
            log.warning(
                "heartbeat: %s was presumed dead (no heartbeat for over %g s) and its"
                " deliveries were taken over; carrying on as %s",
                old,
                self._timeout,
                self.owner.id,
            )
            await self._store.workers.register(self.owner, now=now)

    async def _reap(self) -> None:
        self._took_over(
            await self._store.workers.reap(self.owner, now=time.time(), stale=self._timeout)
        )

    def _took_over(self, reaped: Reaped) -> None:
        if reaped.owners:
            LEASES_TAKEN_OVER.inc(reaped.released)
            log.warning(
                "heartbeat: took over %d deliveries from %d process(es) gone or silent: %s",
                reaped.released,
                len(reaped.owners),
                ", ".join(reaped.owners),
            )
            if reaped.released and self._on_released is not None:
                self._on_released()
