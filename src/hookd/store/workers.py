"""Delivering processes and the leases they hold: heartbeats, and taking over the dead's.

Every process that delivers keeps one `workers` row (its owner id, where it
runs, its last heartbeat), and every delivery it claims names it in
`lease_owner`. A lease lasts as long as its owner lives:

    register   at start: the row, then `reap` (a restart frees what it held before)
    beat       every HOOKD_HEARTBEAT_SECONDS, and reap in the same transaction;
               False: the row is gone, others took its leases over (the process
               was presumed dead), so register anew
    reap       a row whose heartbeat is older than `stale`, or whose process is
               gone from this host (its pid no longer runs here), is deleted and
               its `sending` deliveries are due again at once

The claim's own lease (`next_attempt_at`, HOOKD_LEASE_SECONDS) stays as the
last resort for leases with no owner row (test sends, old rows).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from hookd.store import direct
from hookd.store.engine import Engines
from hookd.store.notify import notify_in

__all__ = ["Owner", "Reaped", "WorkerRepository"]


@dataclass(frozen=True, slots=True)
class Owner:
    """A delivering process as its row names it."""

    id: str
    host: str  # the host's identity: its name, kernel boot and pid namespace
    pid: int


@dataclass(frozen=True, slots=True)
class Reaped:
    owners: list[str]  # the rows deleted
    released: int  # the deliveries they held, due again


_REGISTER = "INSERT INTO workers (id, started_at, heartbeat_at, host, pid) VALUES (?, ?, ?, ?, ?)"
_BEAT = "UPDATE workers SET heartbeat_at = ? WHERE id = ?"
_DELETE_STALE = "DELETE FROM workers WHERE id = ? AND heartbeat_at < ?"
_OTHERS = "SELECT id, heartbeat_at, host, pid FROM workers WHERE id <> ?"
_RELEASE = (
    "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, claim_token = NULL,"
    " lease_owner = NULL, updated_at = ? WHERE status = 'sending' AND lease_owner"
)


class WorkerRepository:
    def __init__(self, engines: Engines) -> None:
        self._db = engines

    async def register(self, owner: Owner, *, now: float) -> None:
        await direct.transaction(
            self._db.write,
            lambda tx: tx.count(_REGISTER, (owner.id, now, now, owner.host, owner.pid)),
        )

    async def beat(
        self,
        me: Owner,
        *,
        now: float,
        stale: float,
        alive: Callable[[int], bool] | None = None,
    ) -> tuple[bool, Reaped]:
        """Renew this process's leases and `reap`, in one transaction.

        The flag is False when its row is gone: others took its leases over.
        """
        return await direct.transaction(
            self._db.write, partial(_beat, me, now, now - stale, alive or pid_alive)
        )

    async def leave(self, owner_id: str) -> None:
        """Delete this process's row at a clean stop (it has released what it held)."""
        await direct.transaction(
            self._db.write, lambda tx: tx.count("DELETE FROM workers WHERE id = ?", (owner_id,))
        )

    async def release_unknown(self, owner_id: str, known: set[str], *, now: float) -> int:
        """Give back this owner's `sending` deliveries under none of the `known` claim tokens.

        A claim whose COMMIT went through while its answer was lost (the database
        went away mid-claim) leaves such rows: leased to a live owner that never
        got them, they would wait out the whole lease.
        """
        return int(
            await direct.transaction(
                self._db.write, partial(_release_unknown, owner_id, known, now)
            )
        )

    async def reap(
        self,
        me: Owner,
        *,
        now: float,
        stale: float,
        alive: Callable[[int], bool] | None = None,
    ) -> Reaped:
        """Take over the leases of processes that are gone or have stopped beating."""
        return await direct.transaction(
            self._db.write, partial(_reap, me, now, now - stale, alive or pid_alive)
        )


def _beat(
    me: Owner, now: float, cutoff: float, alive: Callable[[int], bool], tx: direct.Tx
) -> tuple[bool, Reaped]:
    kept = tx.count(_BEAT, (now, me.id)) > 0
    return kept, _reap(me, now, cutoff, alive, tx)


def _reap(
    me: Owner, now: float, cutoff: float, alive: Callable[[int], bool], tx: direct.Tx
) -> Reaped:
    dead: list[str] = []
    for owner_id, heartbeat_at, host, pid in tx.rows(_OTHERS, (me.id,)):
        if heartbeat_at < cutoff:
            # Deleted only while still stale: a process that beat meanwhile keeps its row.
            gone = tx.count(_DELETE_STALE, (owner_id, cutoff))
        elif host == me.host and pid is not None and pid != me.pid and not alive(pid):
            gone = tx.count("DELETE FROM workers WHERE id = ?", (owner_id,))
        else:
            continue
        if gone:
            dead.append(owner_id)
    released = _release(tx, dead, now) if dead else 0
    return Reaped(dead, released)


_HELD_BY = "SELECT id, claim_token FROM deliveries WHERE status = 'sending' AND lease_owner = ?"
_GIVE_BACK = (
    "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, claim_token = NULL,"
    " lease_owner = NULL, updated_at = ? WHERE id = ? AND claim_token = ?"
)


def _release_unknown(owner_id: str, known: set[str], now: float, tx: direct.Tx) -> int:
    lost = [(d, t) for d, t in tx.rows(_HELD_BY, (owner_id,)) if t not in known]
    for delivery_id, token in lost:
        tx.count(_GIVE_BACK, (now, now, delivery_id, token))
    if lost:
        notify_in(tx)
    return len(lost)


def _release(tx: direct.Tx, owners: Sequence[str], now: float) -> int:
    among, params = tx.among(list(owners))
    released = tx.count(f"{_RELEASE}{among}", (now, now, *params))
    if released:
        notify_in(tx)
    return released


def pid_alive(pid: int) -> bool:
    """Tell whether a process with this pid runs on this host (in this pid namespace)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True


def host_identity() -> str:
    """Name this host so that pids compare only within one kernel boot and pid namespace."""
    parts = [os.uname().nodename]
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            parts.append(f.read().strip()[:8])
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        parts.append("?")
    return "/".join(parts)[:255]
