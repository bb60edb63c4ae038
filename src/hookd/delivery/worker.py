"""The delivery worker: claim due deliveries, send them within limits, record outcomes.

loop:  wait for work (a publish, a freed slot worth a claim, or the poll interval)
       claim up to the free slots under a lease, each webhook up to its lane's room;
       the leases are this process's while its heartbeat lives (heartbeat.py)
       each goes into its webhook's lane (isolation.py), which starts it when the
       webhook's in-flight cap and rate limit allow; a full lane gives it back
       start: an open circuit lets one probe through and holds the rest back;
              otherwise build the request → send → settle → recorder
stop:  claim nothing more, give back what waits in lanes, let in-flight attempts
       finish within the grace period, give back (release) what did not finish
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping

from hookd.background import MAX_BACKOFF, failed
from hookd.config import Settings
from hookd.delivery.attempt import attempt, fallback_record
from hookd.delivery.heartbeat import Heartbeat
from hookd.delivery.isolation import Lanes
from hookd.delivery.recorder import Recorder
from hookd.delivery.request import System
from hookd.delivery.sender import Sender
from hookd.domain.health import Limits
from hookd.domain.models import DEFAULT_MAX_IN_FLIGHT
from hookd.domain.retry import RetryPolicy
from hookd.metrics import ATTEMPT_SECONDS, ATTEMPTS, CIRCUIT_HELD, IN_FLIGHT
from hookd.outage import OUTAGE
from hookd.store import Store
from hookd.store.health import Incident
from hookd.store.records import Claimed

log = logging.getLogger(__name__)


def limits_for(settings: Settings) -> Limits:
    """Return the health limits this process's settings ask for."""
    return Limits(
        disable_after_failures=settings.disable_after_failed_attempts,
        disable_after_seconds=settings.disable_after_seconds,
        circuit_after_failures=settings.circuit_after_failures,
        circuit_interval=settings.circuit_interval,
    )


# What a claim takes for a webhook this worker has no lane for yet: twice the
# default in-flight cap (a lane holds its cap in flight and as many waiting).
NEW_LANE_ROOM = 2 * DEFAULT_MAX_IN_FLIGHT


def _low_water(settings: Settings) -> int:
    """Return how many slots must be free before claiming again (a quarter of a batch)."""
    return max(1, min(settings.claim_batch, settings.concurrency) // 4)


def capped(claimed: list[Claimed], rooms: Mapping[str, int], default_room: int) -> set[str]:
    """Return the webhooks a claim may have left due deliveries of: it took all their room."""
    taken = Counter(c.webhook.id for c in claimed)
    full = {webhook_id for webhook_id, room in rooms.items() if room <= 0}
    return full | {w for w, n in taken.items() if n >= rooms.get(w, default_room)}


class Worker:
    def __init__(
        self,
        store: Store,
        sender: Sender,
        settings: Settings,
        *,
        on_incidents: Callable[[list[Incident]], None] | None = None,
    ) -> None:
        """`on_incidents` hears what recorded attempts did to webhooks (operational events)."""
        self._store = store
        self._sender = sender
        self._settings = settings
        self._policy = RetryPolicy(settings.retry_schedule, settings.retry_jitter)
        self._system = System.for_settings(settings)
        self._recorder = Recorder(
            store,
            limits=limits_for(settings),
            mail=settings.smtp_url is not None,
            on_incidents=on_incidents,
        )
        self._heartbeat = Heartbeat(store, settings, on_released=store.new_work)
        self._tasks: dict[asyncio.Task[None], Claimed] = {}
        self._lanes = Lanes(self._launch)
        self._slot_freed = asyncio.Event()  # set when a finished request is worth a claim
        self._short_of_slots = False  # the last turn had too few free slots to claim
        self._capped: set[str] = set()  # webhooks the last claim took all their room of
        self._stopping = asyncio.Event()
        self._claims_unknown = False  # a claim failed: it may have committed unseen
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def start(self) -> None:
        self._recorder.start()
        self._loop_task = asyncio.create_task(self._loop(), name="hookd-worker")

    @property
    def claiming(self) -> bool:
        """Tell whether the claim loop is running (for /readyz)."""
        return self._loop_task is not None and not self._loop_task.done()

    async def stop(self) -> None:
        """Stop claiming, finish or release what is in flight, flush records."""
        self._stopping.set()
        if self._loop_task:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        unfinished: list[Claimed] = self._lanes.take_waiting()
        if self._tasks:
            _, not_done = await asyncio.wait(
                list(self._tasks), timeout=self._settings.shutdown_grace
            )
            unfinished += [self._tasks[t] for t in not_done]
            for task in not_done:
                task.cancel()
            await asyncio.gather(*not_done, return_exceptions=True)
        await self._recorder.stop(timeout=self._settings.shutdown_grace)
        if unfinished:
            with contextlib.suppress(Exception):
                await self._store.deliveries.release(unfinished, now=time.time())
            log.info("worker: released %d unfinished deliveries", len(unfinished))
        await self._heartbeat.stop()

    async def _loop(self) -> None:
        settings = self._settings
        low_water = _low_water(settings)
        backoff = 0.0  # seconds between claims while the database is unreachable
        await self._heartbeat.begin()  # first, take over what this host's dead held
        while not self._stopping.is_set():
            # Deliveries waiting in lanes hold no slot, but their number is bounded too.
            free = settings.concurrency - max(self._lanes.active, self._lanes.waiting)
            claimed: list[Claimed] = []
            refused: list[Claimed] = []
            room = free >= min(low_water, settings.concurrency)
            self._short_of_slots = not room
            if room and self._claims_unknown:
                await self._give_back_unknown()
            if room:
                self._store.wakeup.clear()
                rooms = self._lanes.rooms()
                try:
                    claimed = await self._store.deliveries.claim(
                        min(free, settings.claim_batch),
                        lease_seconds=settings.lease_seconds,
                        now=time.time(),
                        room=rooms,
                        default_room=NEW_LANE_ROOM,
                        owner=self._heartbeat.owner_id,
                    )
                except Exception as exc:
                    # Its COMMIT may have gone through with the answer lost: look for
                    # such claims once the database answers again.
                    self._claims_unknown = True
                    # The database down: one log line per outage, claims further apart.
                    if failed("worker: claiming", exc, log):
                        backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF)
                        await self._wait(backoff, wake=False)
                else:
                    if backoff:
                        OUTAGE.succeeded()
                    backoff = 0.0
                self._capped = capped(claimed, rooms, NEW_LANE_ROOM)
                refused = [item for item in claimed if not self._lanes.offer(item)]
                if refused:
                    await self._give_back(refused)
                IN_FLIGHT.set(self.in_flight)
                if len(claimed) == min(free, settings.claim_batch) and claimed and not refused:
                    continue  # more may be due right now
            self._lanes.forget_idle()
            # Without room, new work waits for a slot: a wake-up now would only
            # return at once, again and again, until one frees (it stays set).
            await self._wait(settings.poll_interval, wake=room)

    async def _give_back_unknown(self) -> None:
        """Give back deliveries leased to this process by claims it never saw answered."""
        known = {c.claim_token for c in [*self._tasks.values(), *self._lanes.held()]}
        try:
            released = await self._store.workers.release_unknown(
                self._heartbeat.owner_id, known, now=time.time()
            )
        except Exception:
            return  # still unreachable: the next turn tries again
        self._claims_unknown = False
        if released:
            log.warning("worker: gave back %d deliveries of claims lost mid-answer", released)
            self._store.new_work()

    async def _give_back(self, claimed: list[Claimed]) -> None:
        """Release deliveries claimed for a full lane; the next claims leave their webhook out."""
        try:
            await self._store.deliveries.release(claimed, now=time.time())
        except Exception:
            log.exception(
                "worker: giving back %d deliveries failed; leases cover them", len(claimed)
            )

    def _launch(self, claimed: Claimed) -> None:
        """Start a delivery whose turn in its lane has come."""
        task = asyncio.create_task(self._deliver(claimed))
        self._tasks[task] = claimed
        task.add_done_callback(self._finished)

    async def _wait(self, timeout: float, *, wake: bool) -> None:
        """Wait for a slot, the end, the timeout and (when `wake`) for new work."""
        events = [self._slot_freed, self._stopping, *([self._store.wakeup] if wake else [])]
        waiters = [asyncio.create_task(event.wait()) for event in events]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._slot_freed.clear()

    def _finished(self, task: asyncio.Task[None]) -> None:
        claimed = self._tasks.pop(task, None)
        if claimed is not None:
            self._lanes.done(claimed.webhook.id)
        IN_FLIGHT.set(self.in_flight)
        # A freed slot is worth a claim when the last one was short of slots,
        # or when it took all its lane allowed: more may be due for that webhook.
        # Otherwise it found everything due, and only new work (the wake-up) or
        # time (the poll) brings more.
        low_water = _low_water(self._settings)
        if (
            self._short_of_slots and self._lanes.active <= self._settings.concurrency - low_water
        ) or (claimed is not None and claimed.webhook.id in self._capped):
            self._slot_freed.set()
        if not task.cancelled() and task.exception():
            # Only when even the plain fallback record failed: its lease runs out
            # and another attempt is made then (not at once, which could spin).
            log.error(
                "worker: delivery task failed; the delivery is retried when its lease ends",
                exc_info=task.exception(),
            )

    async def _deliver(self, claimed: Claimed) -> None:
        if not self._heartbeat.owns(claimed):
            return  # claimed before a pause so long that others took it over
        if claimed.webhook.circuit_open_until is not None and not await self._may_pass(claimed):
            return
        try:
            sent, record = await attempt(claimed, self._sender, self._policy, self._system)
        except Exception as exc:
            # attempt() turns faults in preparing and sending into failed attempts;
            # this is one in settling: record a plain failed attempt all the same.
            log.error("worker: delivery %s: settling failed", claimed.delivery.id, exc_info=exc)
            words = f"hookd failed while settling the attempt ({type(exc).__name__})"
            record = fallback_record(claimed, self._policy, words)
        else:
            ATTEMPT_SECONDS.observe(sent.duration_ms / 1000)
        ATTEMPTS.labels(record.attempt.outcome).inc()
        await self._recorder.put(record)

    async def _may_pass(self, claimed: Claimed) -> bool:
        """Ask the circuit: the probe (or a closed circuit) passes, the rest wait."""
        try:
            passes = await self._store.circuit.probe_or_hold(
                claimed, now=time.time(), interval=self._settings.circuit_interval
            )
        except Exception:
            log.exception("worker: asking the circuit failed; sending anyway")
            return True
        if not passes:
            CIRCUIT_HELD.inc()
        return passes
