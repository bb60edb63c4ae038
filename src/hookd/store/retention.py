"""Retention: delete what nobody is owed any more, in small transactions.

    deliveries   finished (succeeded, failed, cancelled), created and last changed
                 before the cutoff; with them, their attempts (and a batch's list
                 of the events it carried)
    attempts     older than the cutoff whose delivery is gone (its webhook was deleted)
    events       older than the cutoff that no delivery, batch or unfinished fan-out
                 refers to any more

The work walks each table's primary key in windows of `batch` rows. Ids
begin with their creation time (hookd.ids), so "created before the cutoff" is
a range of the primary-key index: no extra index, and a run that finds
nothing reads only the few old rows that must stay (unfinished deliveries and
their events). Each window is one short transaction, so the purge never holds
many locks or a long snapshot. Walking by creation time is also the shape time
partitioning wants: with deliveries and attempts partitioned by month, a month
past the cutoff is dropped whole instead (docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hookd import ids
from hookd.domain.models import FINISHED
from hookd.store.engine import Engines
from hookd.store.tables import attempts, batch_events, deliveries, events, fanouts

__all__ = ["DEFAULT_BATCH", "Progress", "Purged", "RetentionRepository", "Step"]

DEFAULT_BATCH = 5000
_FINISHED = sorted(s.value for s in FINISHED)
_RANDOM_CHARS = 16  # the 80 random bits at the end of an id


@dataclass
class Purged:
    """What one purge deleted."""

    deliveries: int = 0
    attempts: int = 0
    events: int = 0
    transactions: int = 0

    @property
    def rows(self) -> int:
        return self.deliveries + self.attempts + self.events


@dataclass(frozen=True)
class Step:
    """How far a purge has got, reported after each transaction."""

    phase: str  # "deliveries", "attempts" or "events"
    purged: Purged  # the totals so far
    oldest: float  # creation time of the first row this phase looked at
    reached: float  # creation time of the last row this phase looked at
    before: float  # the cutoff

    @property
    def fraction(self) -> float:
        """Return the share of this phase's time range walked so far (0..1)."""
        span = self.before - self.oldest
        return 1.0 if span <= 0 else min(1.0, max(0.0, (self.reached - self.oldest) / span))


Progress = Callable[[Step], None]

# Deletes the rows of one window that retention lets go, adding to the totals.
_Deleter = Callable[[AsyncConnection, sa.ColumnElement[bool], float, Purged], Awaitable[None]]


class RetentionRepository:
    def __init__(self, engines: Engines) -> None:
        self._db = engines

    async def purge(
        self, *, before: float, batch: int = DEFAULT_BATCH, progress: Progress | None = None
    ) -> Purged:
        """Delete finished deliveries, their attempts and orphaned events older than `before`."""
        done = Purged()
        report = progress or (lambda _: None)
        phases: list[tuple[str, sa.Table, str, sa.Column[float], _Deleter]] = [
            ("deliveries", deliveries, "dlv", deliveries.c.created_at, _deliveries),
            ("attempts", attempts, "att", attempts.c.started_at, _attempts),
            ("events", events, "evt", events.c.created_at, _events),
        ]
        for phase in phases:
            await self._walk(*phase, before=before, batch=batch, done=done, report=report)
        return done

    async def _walk(
        self,
        phase: str,
        table: sa.Table,
        prefix: str,
        created: sa.Column[float],
        delete: _Deleter,
        *,
        before: float,
        batch: int,
        done: Purged,
        report: Progress,
    ) -> None:
        """Go through `table`'s rows created before `before`, one window per transaction."""
        boundary = _first_id_at(prefix, before)
        after = ""
        oldest: float | None = None
        while True:
            async with self._db.write.begin() as conn:
                window = (
                    sa.select(table.c.id, created.label("created"))
                    .where(table.c.id > after, table.c.id < boundary)
                    .order_by(table.c.id)
                    .limit(batch)
                    .subquery()
                )
                last, first_created, reached = (
                    await conn.execute(
                        sa.select(
                            sa.func.max(window.c.id),
                            sa.func.min(window.c.created),
                            sa.func.max(window.c.created),
                        )
                    )
                ).one()
                if last is None:
                    return
                await delete(conn, sa.and_(table.c.id > after, table.c.id <= last), before, done)
            done.transactions += 1
            oldest = float(first_created) if oldest is None else oldest
            report(Step(phase, done, oldest, float(reached), before))
            after = last


async def _deliveries(
    conn: AsyncConnection, window: sa.ColumnElement[bool], before: float, done: Purged
) -> None:
    # RETURNING names exactly the rows deleted: a delivery retried meanwhile keeps its log.
    gone = await conn.execute(
        deliveries.delete()
        .where(window, deliveries.c.status.in_(_FINISHED), deliveries.c.updated_at < before)
        .returning(deliveries.c.id)
    )
    delivery_ids = list(gone.scalars())
    if delivery_ids:
        done.deliveries += len(delivery_ids)
        result = await conn.execute(
            attempts.delete().where(attempts.c.delivery_id.in_(delivery_ids))
        )
        done.attempts += result.rowcount
        await conn.execute(batch_events.delete().where(batch_events.c.batch_id.in_(delivery_ids)))


async def _attempts(
    conn: AsyncConnection, window: sa.ColumnElement[bool], before: float, done: Purged
) -> None:
    owner = sa.select(deliveries.c.id).where(deliveries.c.id == attempts.c.delivery_id)
    result = await conn.execute(attempts.delete().where(window, ~owner.exists()))
    done.attempts += result.rowcount


async def _events(
    conn: AsyncConnection, window: sa.ColumnElement[bool], before: float, done: Purged
) -> None:
    owed = sa.select(deliveries.c.id).where(deliveries.c.event_id == events.c.id)
    carried = sa.select(batch_events.c.batch_id).where(batch_events.c.event_id == events.c.id)
    fanning = sa.select(fanouts.c.event_id).where(fanouts.c.event_id == events.c.id)
    result = await conn.execute(
        events.delete().where(
            window,
            events.c.created_at < before,
            ~owed.exists(),
            ~carried.exists(),
            ~fanning.exists(),
        )
    )
    done.events += result.rowcount


def _first_id_at(prefix: str, when: float) -> str:
    """Return the smallest id `prefix` can have at `when`: every earlier id sorts below it."""
    made = ids.new_id(prefix, when)
    return made[:-_RANDOM_CHARS] + "0" * _RANDOM_CHARS
