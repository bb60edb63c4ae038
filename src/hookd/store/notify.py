"""Wake workers in other processes: PostgreSQL LISTEN/NOTIFY on a dedicated connection.

    publish, retry, release ──NOTIFY hookd_deliveries (in their transaction)──▶ PostgreSQL
    PostgreSQL ──at COMMIT──▶ Listener (its own asyncpg connection) ──▶ store.wakeup.set()

The listener's connection is not taken from the SQLAlchemy pool: LISTEN
belongs to a session, and a pooled connection is handed to other work. When
it drops, the listener reconnects with back-off and wakes the worker once
(something may have been published meanwhile). The worker's polling stays the
fallback, so a lost notification delays a delivery, never strands it.

A transaction-pooling pgbouncer breaks LISTEN (the session under it changes
between transactions): point workers at PostgreSQL directly or at a session pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hookd.background import Loop, stopping
from hookd.store.direct import Tx

__all__ = ["CHANNEL", "Listener", "notify", "notify_in"]

CHANNEL = "hookd_deliveries"
APPLICATION_NAME = "hookd-listen"

log = logging.getLogger(__name__)

# Connect arguments SQLAlchemy's asyncpg dialect keeps for itself.
_DIALECT_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")


async def notify(conn: AsyncConnection) -> None:
    """Tell listening workers that deliveries are due, when this transaction commits."""
    if conn.dialect.name == "postgresql":
        # Repeats within one transaction fold into one notification.
        await conn.exec_driver_sql(f"NOTIFY {CHANNEL}")


def notify_in(tx: Tx) -> None:
    """The same from a `direct` body: `pg_notify`, a SELECT, so it can be prepared."""
    if tx.dialect == "postgresql":
        tx.rows("SELECT pg_notify(?, '')", (CHANNEL,))


class Listener(Loop):
    """Keep one LISTEN connection open and call `on_notify` for each notification."""

    name = "hookd-listen"

    def __init__(
        self,
        engine: AsyncEngine,
        on_notify: Callable[[], None],
        *,
        check_every: float = 30.0,
        min_backoff: float = 0.1,
        max_backoff: float = 30.0,
    ) -> None:
        _, kwargs = engine.dialect.create_connect_args(engine.url)
        for key in _DIALECT_ONLY:
            kwargs.pop(key, None)
        settings = {"application_name": kwargs.pop("application_name", APPLICATION_NAME)}
        self._connect_kwargs: dict[str, Any] = {**kwargs, "server_settings": settings}
        self._on_notify = on_notify
        self._check_every = check_every
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self.listening = asyncio.Event()
        self.connections = 0  # how many times it has (re)connected

    async def _run(self) -> None:
        delay = self._min_backoff
        while True:
            try:
                await self._listen()
                delay, why = self._min_backoff, "connection lost"
            except Exception as exc:  # this loop outlives any one failure
                if stopping():
                    raise asyncio.CancelledError from exc
                why = f"cannot listen ({type(exc).__name__}: {exc})"
            log.warning("listen: %s; reconnecting in %.1f s", why, delay)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._max_backoff)

    async def _listen(self) -> None:
        """Listen until the connection is lost (return) or fails (raise)."""
        conn: asyncpg.Connection = await asyncpg.connect(timeout=10, **self._connect_kwargs)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._notified)
            self.connections += 1
            self.listening.set()
            if self.connections > 1:
                log.info("listen: listening again")
            self._on_notify()  # whatever was published while nobody listened is due
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._check_every)
                if not lost.is_set():
                    # A peer that vanished without a FIN is only noticed by talking to it.
                    await conn.execute("SELECT 1", timeout=10)
        finally:
            self.listening.clear()
            if not conn.is_closed():
                conn.terminate()

    def _notified(self, *_: object) -> None:
        self._on_notify()
