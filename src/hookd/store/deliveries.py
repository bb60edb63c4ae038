"""Deliveries and attempts: claiming work under a lease, and writing outcomes in batches."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import sqlalchemy as sa

from hookd.domain.health import Limits
from hookd.domain.models import FINISHED, PARKED_AT, SUPERSEDED, DeliveryStatus
from hookd.metrics import SUPERSEDED_RECORDS
from hookd.store import direct, health, rows
from hookd.store.batches import carried_events, claimed_batches
from hookd.store.engine import Engines
from hookd.store.health import Incident
from hookd.store.notify import notify, notify_in
from hookd.store.records import AttemptRecord, Claimed, DeliveryDetail, Page, StoredEvent
from hookd.store.tables import DUE, attempts, deliveries

_DUE = sa.text(DUE)  # literal on purpose: see tables.DUE
DEFAULT_LIMITS = Limits()


class DeliveryRepository:
    def __init__(self, engines: Engines) -> None:
        self._db = engines

    async def claim(
        self,
        limit: int,
        *,
        lease_seconds: float,
        now: float,
        room: Mapping[str, int] | None = None,
        default_room: int | None = None,
        owner: str | None = None,
    ) -> list[Claimed]:
        """Lease up to `limit` due deliveries (pending, or sending with an expired lease).

        Webhooks are served oldest due delivery first, each up to its `room`
        (what its lane in this worker can take; `default_room` for webhooks
        not in `room`; no bound when both are None), oldest first within it.
        A `sending` row's next_attempt_at is its lease end. On PostgreSQL
        `SKIP LOCKED` lets many workers claim at once without waiting on each
        other or taking the same row; on SQLite `BEGIN IMMEDIATE` serialises.
        `owner` (a workers row, store/workers.py) holds the leases while it lives;
        the claim token starts with it, so the owner can tell its own claims.
        """
        token = claim_token(owner)
        rooms = _Rooms(dict(room or {}), limit if default_room is None else default_room)
        found = await direct.transaction(
            self._db.write, partial(_claim, limit, now + lease_seconds, token, owner, now, rooms)
        )
        if not found:
            return []
        claimed = [rows.delivery_from_tuple(r) for r in found[0]]
        found_events = {r[0]: rows.event_from_tuple(r) for r in found[1]}
        found_webhooks = {r[0]: rows.webhook_from_tuple(r) for r in found[2]}
        batches = claimed_batches(claimed, token, found_webhooks, found[3])
        return [
            Claimed(d, token, found_events[d.event_id], found_webhooks[d.webhook_id])
            for d in claimed
            if d.event_id in found_events and d.webhook_id in found_webhooks
        ] + batches

    async def record(
        self,
        records: Sequence[AttemptRecord],
        *,
        now: float,
        limits: Limits = DEFAULT_LIMITS,
        mail: bool = False,
    ) -> list[Incident]:
        """Write finished attempts, their deliveries' new state and webhook health at once.

        Returns what happened to webhooks and deliveries (for operational events);
        `mail`: also note failures for the owners' e-mail digest.
        """
        if not records:
            return []
        incidents = await direct.transaction(
            self._db.write, partial(_record, records, now, limits, mail)
        )
        superseded = sum(r.attempt.outcome == SUPERSEDED for r in records)
        if superseded:
            SUPERSEDED_RECORDS.inc(superseded)
        return incidents

    async def release(self, claimed: Sequence[Claimed], *, now: float) -> None:
        """Give leased deliveries back so any worker can take them now."""
        if not claimed:
            return
        async with self._db.write.begin() as conn:
            await conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.id == sa.bindparam("b_id"),
                    deliveries.c.claim_token == sa.bindparam("b_token"),
                )
                .values(
                    status=DeliveryStatus.PENDING.value,
                    next_attempt_at=now,
                    claim_token=None,
                    lease_owner=None,
                    updated_at=now,
                ),
                [{"b_id": c.delivery.id, "b_token": c.claim_token} for c in claimed],
            )
            await notify(conn)

    async def get(self, app_id: str, delivery_id: str) -> DeliveryDetail | None:
        async with self._db.read.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(deliveries).where(
                        deliveries.c.app_id == app_id, deliveries.c.id == delivery_id
                    )
                )
            ).first()
            if row is None:
                return None
            found = await conn.execute(
                sa.select(attempts)
                .where(attempts.c.delivery_id == delivery_id)
                .order_by(attempts.c.number, attempts.c.id)
            )
            return DeliveryDetail(rows.delivery(row), [rows.attempt(a) for a in found])

    async def page(
        self,
        app_id: str,
        *,
        limit: int,
        before: str | None = None,
        webhook_id: str | None = None,
        event_id: str | None = None,
        status: str | None = None,
    ) -> Page:
        """List deliveries newest first."""
        query = sa.select(deliveries).where(deliveries.c.app_id == app_id)
        if webhook_id:
            query = query.where(deliveries.c.webhook_id == webhook_id)
        if event_id:
            query = query.where(deliveries.c.event_id == event_id)
        if status:
            query = query.where(deliveries.c.status == status)
        if before:
            query = query.where(deliveries.c.id < before)
        query = query.order_by(deliveries.c.id.desc()).limit(limit + 1)
        async with self._db.read.connect() as conn:
            found = [rows.delivery(r) for r in await conn.execute(query)]
        return Page.cut(found, limit)

    async def retry(self, app_id: str, delivery_id: str, *, now: float) -> bool:
        """Make a finished or waiting delivery due now; False if it is being sent."""
        async with self._db.write.begin() as conn:
            result = await conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.app_id == app_id,
                    deliveries.c.id == delivery_id,
                    deliveries.c.status != DeliveryStatus.SENDING.value,
                )
                .values(
                    status=DeliveryStatus.PENDING.value,
                    next_attempt_at=now,
                    claim_token=None,
                    updated_at=now,
                )
            )
            if result.rowcount:
                await notify(conn)
        return result.rowcount > 0

    async def lease(self, delivery_id: str, *, lease_seconds: float, now: float) -> str | None:
        """Take one delivery for sending right now (test sends); returns its claim token."""
        token = secrets.token_hex(8)
        async with self._db.write.begin() as conn:
            result = await conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.id == delivery_id,
                    deliveries.c.status.in_([s.value for s in DeliveryStatus if s not in FINISHED]),
                )
                .values(
                    status=DeliveryStatus.SENDING.value,
                    next_attempt_at=now + lease_seconds,
                    claim_token=token,
                    lease_owner=None,
                    updated_at=now,
                )
            )
        return token if result.rowcount else None

    async def line_up(self, webhook_id: str) -> int:
        """Put a FIFO webhook's unordered unfinished deliveries into one line, in order.

        What it was owed before it was switched to `fifo` (and what a publish racing
        the switch made from the old settings) joins the line `''`: a claim takes
        only lines' heads. Does nothing for a webhook without ordering.
        """
        async with self._db.write.begin() as conn:
            result = await conn.execute(sa.text(_LINE_UP), {"webhook": webhook_id})
        return int(result.rowcount or 0)

    async def count_pending(self) -> int:
        query = sa.select(sa.func.count()).where(_DUE, deliveries.c.next_attempt_at < PARKED_AT)
        async with self._db.read.connect() as conn:
            return int((await conn.execute(query)).scalar_one())


Found = tuple[
    list[tuple[Any, ...]],  # the claimed deliveries
    list[tuple[Any, ...]],  # their events
    list[tuple[Any, ...]],  # their webhooks
    dict[str, list[StoredEvent]],  # the events each claimed batch carries
]


@dataclass(frozen=True, slots=True)
class _Rooms:
    known: dict[str, int]
    default: int

    def of(self, webhook_id: str) -> int:
        return self.known.get(webhook_id, self.default)


# The enabled webhooks owed a pending or sending delivery, with the earliest
# next_attempt_at among them: a loose index scan over ix_deliveries_due_by_webhook,
# one index seek per webhook however long its backlog.
_WEBHOOKS_WITH_WORK = f"""
WITH RECURSIVE hooks(id) AS (
    SELECT MIN(webhook_id) FROM deliveries WHERE {DUE}
    UNION ALL
    SELECT (SELECT MIN(webhook_id) FROM deliveries WHERE {DUE} AND webhook_id > hooks.id)
    FROM hooks WHERE hooks.id IS NOT NULL
)
SELECT hooks.id, (
    SELECT MIN(next_attempt_at) FROM deliveries
    WHERE deliveries.webhook_id = hooks.id AND {DUE}
), webhooks.ordering
FROM hooks JOIN webhooks ON webhooks.id = hooks.id
WHERE webhooks.enabled = ?
"""  # noqa: S608 (constants only)
_DUE_OF_WEBHOOK = (
    f"SELECT id FROM deliveries WHERE webhook_id = ? AND {DUE}"  # noqa: S608
    " AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?"
)


# A FIFO webhook's due deliveries: the heads of its lines (the oldest unfinished
# delivery of each ordering key), when due. A head being sent holds its line.
# The conditions match ix_deliveries_fifo's, so the lines are read from it.
_UNFINISHED_IN_LINE = "status IN ('pending', 'sending') AND ordering_key IS NOT NULL"
_HEADS_OF_WEBHOOK = (
    "SELECT id FROM deliveries WHERE id IN (SELECT MIN(id) FROM deliveries"  # noqa: S608
    f" WHERE webhook_id = ? AND {_UNFINISHED_IN_LINE} GROUP BY ordering_key)"
    f" AND {_UNFINISHED_IN_LINE} AND next_attempt_at <= ? ORDER BY id LIMIT ?"
)


_LINE_UP = (
    "UPDATE deliveries SET ordering_key = '' WHERE webhook_id = :webhook"
    " AND ordering_key IS NULL AND status IN ('pending', 'sending')"
    " AND EXISTS (SELECT 1 FROM webhooks WHERE id = :webhook AND ordering = 'fifo')"
)


# PostgreSQL takes from every chosen webhook in one round trip (SQLite has no
# round trips to save, nor arrays): a LATERAL subquery per (webhook, take) pair.
_DUE_OF_WEBHOOKS_PG = (
    "SELECT due.id FROM unnest(?::text[], ?::int[]) AS chosen(webhook_id, take)"  # noqa: S608
    " CROSS JOIN LATERAL (SELECT id FROM deliveries"
    f" WHERE deliveries.webhook_id = chosen.webhook_id AND {DUE}"
    " AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT chosen.take"
    " FOR UPDATE SKIP LOCKED) AS due"
)


# A claim's lookups by many keys (`id = ANY(?)`) are planned for the tables as they
# are now. A plan PostgreSQL cached while they were small is a sequential scan
# (estimating ten keys, it costs less than ten index probes on a few pages), and
# it stays cached until the table is next analysed: measured in the latency
# benchmark on a fresh database, 3.5-4.5 ms per claim statement at 36,000 rows
# and a p99 of 0.4-2.5 s at 1,000 events/s. Planning every claim's statements
# costs far less than that (forcing custom plans for every statement of every
# transaction cost 55 % more server CPU per delivery: too much).
_PLAN_NOW = "SET LOCAL plan_cache_mode = force_custom_plan"


def claim_token(owner: str | None) -> str:
    """Return a new claim token: the owner's id, then random (at most 40 characters)."""
    return f"{owner}:{secrets.token_hex(4)}" if owner else secrets.token_hex(8)


def _claim(
    limit: int,
    lease_end: float,
    token: str,
    owner: str | None,
    now: float,
    rooms: _Rooms,
    tx: direct.Tx,
) -> Found | None:
    """Pick and mark due deliveries; return them with their events and webhooks (as rows)."""
    due = sorted(
        (due_at, webhook_id, ordering == "fifo")
        for webhook_id, due_at, ordering in tx.rows(_WEBHOOKS_WITH_WORK, (True,))
        if due_at is not None and due_at <= now
    )
    picked: list[Any] = []
    heads = _HEADS_OF_WEBHOOK
    if tx.dialect == "postgresql":
        heads += " FOR UPDATE SKIP LOCKED"
        # Each webhook's take is its room within what the limit leaves, as below;
        # a webhook owed fewer than its take leaves the rest for the next claim.
        chosen: list[tuple[str, int]] = []
        left = limit
        for _, webhook_id, fifo in due:
            take = min(rooms.of(webhook_id), left)
            if take > 0 and fifo:
                found = [r[0] for r in tx.rows(heads, (webhook_id, now, take))]
                picked += found
                left -= len(found)
            elif take > 0:
                chosen.append((webhook_id, take))
                left -= take
            if left <= 0:
                break
        if chosen:
            params = ([w for w, _ in chosen], [t for _, t in chosen], now)
            picked += [r[0] for r in tx.rows(_DUE_OF_WEBHOOKS_PG, params)]
    else:
        for _, webhook_id, fifo in due:
            take = min(rooms.of(webhook_id), limit - len(picked))
            if take > 0:
                query = heads if fifo else _DUE_OF_WEBHOOK
                picked += [r[0] for r in tx.rows(query, (webhook_id, now, take))]
            if len(picked) >= limit:
                break
    if not picked:
        return None
    if tx.dialect == "postgresql":
        tx.rows(_PLAN_NOW)
    in_picked, picked_params = tx.among(picked)
    claimed = tx.rows(
        "UPDATE deliveries SET status = 'sending', next_attempt_at = ?, claim_token = ?,"  # noqa: S608 (only names and ?)
        f" lease_owner = ?, updated_at = ? WHERE id{in_picked} RETURNING {rows.DELIVERY_COLUMNS}",
        (lease_end, token, owner, now, *picked_params),
    )
    event_ids = sorted({r[rows.DELIVERY_EVENT_ID] for r in claimed if r[rows.DELIVERY_EVENT_ID]})
    webhook_ids = sorted({r[rows.DELIVERY_WEBHOOK_ID] for r in claimed})
    found_events: list[tuple[Any, ...]] = []
    if event_ids:
        in_events, event_params = tx.among(event_ids)
        found_events = tx.rows(
            f"SELECT {rows.EVENT_COLUMNS} FROM events WHERE id{in_events}",  # noqa: S608
            event_params,
        )
    in_webhooks, webhook_params = tx.among(webhook_ids)
    found_webhooks = tx.rows(
        f"SELECT {rows.WEBHOOK_COLUMNS} FROM webhooks WHERE id{in_webhooks}",  # noqa: S608
        webhook_params,
    )
    batch_ids = [r[rows.DELIVERY_ID] for r in claimed if r[rows.DELIVERY_KIND] == "batch"]
    return claimed, found_events, found_webhooks, carried_events(tx, batch_ids)


_INSERT_ATTEMPT = direct.bulk_insert(attempts)
_SETTLE = (
    "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?,"
    " last_status_code = ?, claim_token = NULL, lease_owner = NULL, updated_at = ?"
    " WHERE id = ? AND claim_token = ?"
)


def _record(
    records: Sequence[AttemptRecord], now: float, limits: Limits, mail: bool, tx: direct.Tx
) -> list[Incident]:
    """Write the attempts, their deliveries' new state and their webhooks' health.

    Fenced: an attempt whose claim token is no longer its delivery's (its lease
    was taken over, the delivery was cancelled or retried meanwhile) is kept in
    the attempt log as `superseded` and changes nothing else.
    """
    current = fence(tx, records)
    tx.each(_INSERT_ATTEMPT, [rows.attempt_tuple(r.attempt) for r in records])
    tx.many(
        _SETTLE,
        [
            (
                r.status.value,
                r.attempt.number,
                r.next_attempt_at,
                r.last_error,
                r.attempt.response_status,
                now,
                r.attempt.delivery_id,
                r.claim_token,
            )
            for r in current
        ],
    )
    if any(r.ordered and r.status in FINISHED for r in current):
        notify_in(tx)  # the next in a FIFO line is due: wake other processes' workers
    loaded = health.load(tx, current)
    return health.apply(tx, current, loaded, now=now, limits=limits, mail=mail)


def fence(tx: direct.Tx, records: Sequence[AttemptRecord]) -> list[AttemptRecord]:
    """Mark the records whose claim is no longer current `superseded`; return the others.

    The deliveries are locked (PostgreSQL) in id order, as the settling update would.
    """
    ids_ = sorted({r.attempt.delivery_id for r in records})
    lock = " ORDER BY id FOR UPDATE" if tx.dialect == "postgresql" else ""
    among, params = tx.among(ids_)
    tokens = dict(
        tx.rows(f"SELECT id, claim_token FROM deliveries WHERE id{among}{lock}", params)  # noqa: S608
    )
    current: list[AttemptRecord] = []
    for record in records:
        if tokens.get(record.attempt.delivery_id) == record.claim_token:
            current.append(record)
        else:
            record.attempt = replace(record.attempt, outcome=SUPERSEDED)
            record.counts = False
            record.batch = False
    return current
