"""Events, and fan-out: an event and what it owes are written in one transaction.

An event owed to at most INLINE_FANOUT webhooks gets its deliveries in the
publishing transaction. One owed to more gets a `fanouts` row instead, naming
the webhooks chosen, and store/fanouts.py makes their deliveries in chunks
after the commit: the publish costs the same at 1,000 webhooks as at one
(inserting deliveries costs ~9 µs each on SQLite, 9 ms at 1,000), and the
answer still says how many deliveries the event owes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa

from hookd import ids
from hookd.domain import ordering
from hookd.domain.models import DeliveryStatus, Webhook
from hookd.store import direct, rows
from hookd.store.engine import Engines
from hookd.store.notify import CHANNEL, notify_in
from hookd.store.records import Claimed, FanoutTarget, NewEvent, Published, StoredEvent
from hookd.store.subscriptions import Subscriptions, Targets
from hookd.store.tables import deliveries, events, fanouts

# Chooses, for one event, which of the subscribed webhooks get a delivery.
Chooser = Callable[[NewEvent, Sequence[FanoutTarget]], Sequence[str]]

# Deliveries a publish makes itself for one event; past this they are deferred.
INLINE_FANOUT = 50


class EventRepository:
    def __init__(
        self,
        engines: Engines,
        on_commit: Callable[[], None],
        on_deferred: Callable[[], None],
    ) -> None:
        self._db = engines
        self._on_commit = on_commit  # deliveries are due
        self._on_deferred = on_deferred  # fan-outs wait to be expanded
        self.subscriptions = Subscriptions()
        self.at_once = 0  # publishes written in one statement (PostgreSQL)

    async def publish(
        self,
        app_id: str,
        new: Sequence[NewEvent],
        choose: Chooser,
        *,
        now: float,
        idempotency_window: float,
    ) -> list[Published]:
        """Store events and what they owe atomically; repeat keys return the original.

        Who is subscribed comes from this process's copy, checked against the
        subscriptions' version in the same transaction as the inserts (store/
        subscriptions.py), all in one `direct.transaction`: on SQLite the write
        lock is held for the statements only. On PostgreSQL a publish the copy
        covers is one statement (`_at_once`).
        """
        plan = _Plan(app_id, new, choose, now, now - idempotency_window, self.subscriptions)
        made = await self._at_once(plan) if self._db.dialect == "postgresql" else None
        if made is None:
            made = await direct.transaction(self._db.write, plan.write)
        if made.deliveries:
            self._on_commit()
        if made.fanouts:
            self._on_deferred()
        return made.out

    async def _at_once(self, plan: _Plan) -> _Rows | None:
        """PostgreSQL: publish in one statement, one round trip, when nothing needs a read.

        The usual transaction takes six round trips (BEGIN, the subscriptions'
        version, three inserts with the NOTIFY, COMMIT); on a busy machine each
        is a wait for the server process and back. When no event has an
        idempotency key and this process's copy of the subscriptions covers
        every type, one statement in a transaction of its own inserts it all,
        provided the version is still the one the copy was read at. Returns
        None when that cannot be (the caller then runs the usual transaction).
        """
        if any(e.idempotency_key for e in plan.new):
            return None
        known = plan.subscriptions.known(plan.app_id, plan.types)
        if known is None:
            return None
        version, targets = known
        made = plan.rows(targets, {})
        params = (
            version,
            *direct.columns(made.events, 9),
            *direct.columns(made.fanouts, 4),
            *direct.columns(made.deliveries, 9),
            CHANNEL,
            made.notify,
        )
        try:
            [(matched,)] = await direct.at_once(self._db.write, _AT_ONCE, params)
        except sa.exc.IntegrityError:
            return None  # a webhook deleted meanwhile: the transaction reads them again
        if not matched:
            return None
        self.at_once += 1
        return made

    async def publish_to(
        self, webhook: Webhook, new: NewEvent, *, now: float, lease_seconds: float
    ) -> Claimed:
        """Store an event owed to one webhook only, leased for sending at once (test sends)."""
        stored = StoredEvent(
            id=ids.new_id("evt", now),
            app_id=webhook.app_id,
            type=new.type,
            data_json=new.data_json,
            timestamp=now,
            live=new.live,
        )
        row = _delivery_row(webhook.app_id, webhook.id, stored.id, now, DeliveryStatus.SENDING)
        row["claim_token"] = token = secrets.token_hex(8)
        row["next_attempt_at"] = now + lease_seconds
        async with self._db.write.begin() as conn:
            await conn.execute(
                events.insert().values(
                    id=stored.id,
                    app_id=stored.app_id,
                    type=stored.type,
                    data=stored.data_json,
                    timestamp=now,
                    live=stored.live,
                    created_at=now,
                )
            )
            await conn.execute(deliveries.insert().values(**row))
        return Claimed(rows.delivery_from_values(row), token, stored, webhook)

    async def get(self, app_id: str, event_id: str) -> StoredEvent | None:
        query = sa.select(events).where(events.c.app_id == app_id, events.c.id == event_id)
        async with self._db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        return rows.event(row) if row else None


QUEUED = DeliveryStatus.QUEUED.value
PENDING = DeliveryStatus.PENDING.value
_INSERT_EVENT = direct.bulk_insert(
    events,
    (
        "id",
        "app_id",
        "type",
        "data",
        "timestamp",
        "live",
        "idempotency_key",
        "created_at",
        "trace_context",
    ),
)
_INSERT_FANOUT = direct.bulk_insert(fanouts, ("event_id", "app_id", "webhooks", "created_at"))
_INSERT_DELIVERY = direct.bulk_insert(
    deliveries,
    (
        "id",
        "app_id",
        "webhook_id",
        "event_id",
        "status",
        "next_attempt_at",
        "created_at",
        "updated_at",
        "ordering_key",
    ),
)

_ONLY_IF_FRESH = " WHERE EXISTS (SELECT FROM fresh)"
# Everything a publish writes, in one statement, if the subscriptions' version
# is still the one given (the count of `fresh` says whether it was).
_AT_ONCE = (
    "WITH fresh AS (SELECT version FROM subscriptions WHERE id = 1 AND version = ?),"  # noqa: S608
    f" e AS ({_INSERT_EVENT.postgresql}{_ONLY_IF_FRESH}),"
    f" f AS ({_INSERT_FANOUT.postgresql}{_ONLY_IF_FRESH}),"
    f" d AS ({_INSERT_DELIVERY.postgresql}{_ONLY_IF_FRESH}),"
    " woken AS (SELECT pg_notify(?, '') FROM fresh WHERE ?::boolean)"
    # A SELECT in WITH runs only when referenced: `woken` is, at no cost to the answer.
    " SELECT (SELECT count(*) FROM fresh) + 0 * (SELECT count(*) FROM woken)"
)


@dataclass(frozen=True, slots=True)
class _Plan:
    """One publish call's events, written by `write` inside the caller's transaction."""

    app_id: str
    new: Sequence[NewEvent]
    choose: Chooser
    now: float
    keys_since: float  # idempotency keys used before this are free again
    subscriptions: Subscriptions

    def write(self, tx: direct.Tx) -> _Rows:
        """Insert the events and their deliveries (or fan-outs)."""
        earlier = _earlier(tx, self.app_id, self.new, self.keys_since)
        made = self.rows(self.subscriptions.targets(tx, self.app_id, self.types), earlier)
        tx.each(_INSERT_EVENT, made.events)
        tx.each(_INSERT_FANOUT, made.fanouts)
        tx.each(_INSERT_DELIVERY, made.deliveries)
        if made.notify:
            notify_in(tx)  # wakes workers in other processes at COMMIT
        return made

    @property
    def types(self) -> set[str]:
        return {e.type for e in self.new}

    def rows(self, targets: Targets, earlier: dict[str, Published]) -> _Rows:
        """Return the rows these events make, given who is subscribed (no I/O)."""
        app_id, now = self.app_id, self.now
        made = _Rows()
        # By type: the webhooks whose deliveries wait for a batch flush (store/batches.py),
        # and the FIFO webhooks' ordering keys.
        queued_of: dict[str, set[str]] = {}
        keys_of: dict[str, dict[str, str]] = {}
        owed: list[Owed] = []
        seen: dict[str, Published] = {}
        event_ids = iter(ids.new_ids("evt", len(self.new), now))
        for item in self.new:
            key = item.idempotency_key
            if key and key in seen:
                made.out.append(Published(seen[key].event, seen[key].deliveries, True))
                continue
            if key and key in earlier:
                made.out.append(earlier[key])
                continue
            stored = StoredEvent(
                next(event_ids),
                app_id,
                item.type,
                item.data_json,
                now,
                item.live,
                key,
                item.trace_context,
            )
            made.events.append(
                (
                    stored.id,
                    app_id,
                    item.type,
                    item.data_json,
                    now,
                    item.live,
                    key,
                    now,
                    stored.trace_context,
                )
            )
            subscribed = targets.get(item.type)
            chosen = self.choose(item, subscribed) if subscribed else ()
            if len(chosen) > INLINE_FANOUT:
                made.fanouts.append((stored.id, app_id, orjson.dumps(list(chosen)).decode(), now))
            elif chosen:
                assert subscribed is not None
                queued = queued_of.get(item.type)
                if queued is None:  # once per type, and only for deliveries made here
                    queued = queued_of[item.type] = {
                        t.webhook_id for t in subscribed if t.mode == "queued"
                    }
                    keys_of[item.type] = {
                        t.webhook_id: t.ordering_key
                        for t in subscribed
                        if t.ordering_key is not None
                    }
                keys = keys_of[item.type]
                owed.extend(
                    (
                        webhook_id,
                        stored.id,
                        QUEUED if webhook_id in queued else PENDING,
                        now,
                        line_of(keys.get(webhook_id), item.data_json),
                    )
                    for webhook_id in chosen
                )
            published = Published(stored, len(chosen), False)
            if key:
                seen[key] = published
            made.out.append(published)
        made.deliveries = delivery_rows(app_id, owed, now)
        made.notify = any(o[2] == PENDING for o in owed)
        return made


@dataclass(slots=True)
class _Rows:
    """What a publish writes (rows as tuples in the bulk inserts' column order)."""

    out: list[Published] = field(default_factory=list)  # one per event published
    events: list[tuple[Any, ...]] = field(default_factory=list)
    fanouts: list[tuple[Any, ...]] = field(default_factory=list)
    deliveries: list[tuple[Any, ...]] = field(default_factory=list)
    notify: bool = False  # some deliveries are pending: wake the workers


# A delivery owed: (webhook id, event id, status, next attempt at, ordering key or None).
Owed = tuple[str, str, str, float, str | None]


def line_of(key_template: str | None, data_json: str) -> str | None:
    """Return the FIFO line a delivery joins (None: its webhook has no order)."""
    if key_template is None:
        return None
    return compiled_key(key_template).render(data_json) if key_template else ""


@lru_cache(maxsize=256)
def compiled_key(source: str) -> ordering.KeyTemplate:
    return ordering.compile_key(source)


def insert_deliveries(tx: direct.Tx, app_id: str, owed: Sequence[Owed], created_at: float) -> None:
    """Insert deliveries (`Owed` each); wakes other processes' workers at COMMIT if any is due."""
    tx.each(_INSERT_DELIVERY, delivery_rows(app_id, owed, created_at))
    if any(o[2] == PENDING for o in owed):
        notify_in(tx)


def delivery_rows(app_id: str, owed: Sequence[Owed], created_at: float) -> list[tuple[Any, ...]]:
    """Return the rows of new deliveries, in `_INSERT_DELIVERY`'s column order."""
    if not owed:
        return []
    delivery_ids = ids.new_ids("dlv", len(owed), created_at)
    return [
        (delivery_id, app_id, webhook_id, event_id, state, due, created_at, created_at, line)
        for delivery_id, (webhook_id, event_id, state, due, line) in zip(
            delivery_ids, owed, strict=True
        )
    ]


def _earlier(
    tx: direct.Tx, app_id: str, new: Sequence[NewEvent], since: float
) -> dict[str, Published]:
    """Return what earlier events with these idempotency keys published; free stale keys."""
    keys = sorted({e.idempotency_key for e in new if e.idempotency_key})
    if not keys:
        return {}
    among, params = tx.among(keys)
    found: dict[str, Published] = {}
    stale: list[str] = []
    for *event_row, created_at in tx.rows(
        f"SELECT {rows.EVENT_COLUMNS}, created_at FROM events"  # noqa: S608
        f" WHERE app_id = ? AND idempotency_key{among}",
        (app_id, *params),
    ):
        event = rows.event_from_tuple(tuple(event_row))
        key = event.idempotency_key
        assert key is not None
        if created_at < since:
            stale.append(key)
            continue
        [(count,)] = tx.rows("SELECT count(*) FROM deliveries WHERE event_id = ?", (event.id,))
        for (waiting,) in tx.rows("SELECT webhooks FROM fanouts WHERE event_id = ?", (event.id,)):
            count += len(orjson.loads(waiting))  # its fan-out is still being made
        found[key] = Published(event, count, True)
    if stale:
        # The window has passed: the key may be used again.
        among, params = tx.among(stale)
        tx.count(
            f"UPDATE events SET idempotency_key = NULL WHERE app_id = ? AND idempotency_key{among}",  # noqa: S608
            (app_id, *params),
        )
    return found


def _delivery_row(
    app_id: str, webhook_id: str, event_id: str, now: float, status: DeliveryStatus
) -> dict[str, Any]:
    return {
        "id": ids.new_id("dlv", now),
        "app_id": app_id,
        "webhook_id": webhook_id,
        "event_id": event_id,
        "status": status.value,
        "attempts": 0,
        "next_attempt_at": now,
        "claim_token": None,
        "last_error": None,
        "last_status_code": None,
        "created_at": now,
        "updated_at": now,
    }
