"""Webhook health, written in the transaction that records the attempts changing it.

`DeliveryRepository.record` writes the attempts and their deliveries' new
state, `load`s health and `apply`s it, all in one `direct.transaction` (on
SQLite one hop to the connection's thread: the write lock is held for the
statements only, never across an event-loop turn):

    load: lock the webhooks the batch touched, in id order (workers never deadlock),
          FOR NO KEY UPDATE (publishes referencing them never wait on it)
    fold each one's attempts and judge (domain/health.py); write failure_streak,
        failing_since, last_success_at, last_error (and when) and the circuit
    disable it, parking what it is owed
    | hold its pending deliveries behind an open circuit, the oldest first as the probe
    | let them go when a success closes the circuit
    write notifications for its owners' e-mail digest (when mail is on)
    return incidents, which become operational events once this commits

Test sends (`counts=False`) leave all of this alone.

`CircuitRepository.probe_or_hold` is the circuit's other half, at send time:
while it is open, one worker takes the probe and the rest give their claims back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from hookd import ids
from hookd.domain import operational
from hookd.domain.health import Health, Limits, Try, judge
from hookd.domain.models import PARKED_AT, DeliveryStatus
from hookd.store import direct
from hookd.store.engine import Engines
from hookd.store.notify import notify_in
from hookd.store.records import AttemptRecord, Claimed
from hookd.store.tables import PENDING_OF_WEBHOOK, deliveries, notifications, webhooks
from hookd.store.webhooks import disable

__all__ = ["DELIVERY_FAILED", "WEBHOOK_DISABLED", "CircuitRepository", "Incident", "apply"]

# Kinds of notification rows (the e-mail digest's lines).
DELIVERY_FAILED = "delivery_failed"
WEBHOOK_DISABLED = "webhook_disabled"

_PENDING = DeliveryStatus.PENDING.value
_WAITS = DeliveryStatus.PENDING
_FAILED_FOR_GOOD = ("failed", "disable")  # attempt outcomes that ended a delivery as failed


@dataclass(frozen=True, slots=True)
class Incident:
    """Something that happened to a webhook, for an operational event of type `type`."""

    type: str
    app_id: str
    webhook_id: str
    webhook_name: str
    webhook_url: str
    at: float
    occasion: str  # what makes this occurrence unique (an attempt id, a time)
    reason: str | None = None
    error: str | None = None
    delivery_id: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    attempts: int = 0
    status_code: int | None = None


Loaded = tuple[dict[str, SimpleNamespace], set[str]]

_HEALTH_NAMES = (
    "id",
    "app_id",
    "name",
    "url",
    "enabled",
    "mail_exceptions_to",
    "failure_streak",
    "failing_since",
    "last_success_at",
    "circuit_open_until",
    "disable_after_failures",
    "disable_after_seconds",
)
_SELECT_HEALTH = f"SELECT {', '.join(_HEALTH_NAMES)} FROM webhooks WHERE id"  # noqa: S608
_SET_HEALTH = (
    "UPDATE webhooks SET failure_streak = ?, failing_since = ?, last_success_at = ?,"
    " circuit_open_until = ?, last_error = COALESCE(?, last_error),"
    " last_error_at = COALESCE(?, last_error_at) WHERE id = ?"
)


def load(tx: direct.Tx, records: Sequence[AttemptRecord]) -> Loaded:
    """Lock and read the health of the webhooks these attempts count for (in id order).

    Also returns which of the deliveries that just succeeded on a retry had failed
    for good before (they are "recovered"). Runs inside `record`'s statements.
    """
    webhook_ids = sorted({r.attempt.webhook_id for r in records if r.counts})
    if not webhook_ids:
        return {}, set()
    # NO KEY UPDATE: health changes no key, so publishes inserting deliveries (whose
    # foreign key takes KEY SHARE on the webhook) neither wait for it nor deadlock.
    lock = " FOR NO KEY UPDATE" if tx.dialect == "postgresql" else ""
    in_webhooks, params = tx.among(webhook_ids)
    found = {
        row[0]: SimpleNamespace(**dict(zip(_HEALTH_NAMES, row, strict=True)))
        for row in tx.rows(f"{_SELECT_HEALTH}{in_webhooks} ORDER BY id{lock}", params)
    }
    retried = sorted(
        {
            r.attempt.delivery_id
            for r in records
            if r.counts
            and r.status is DeliveryStatus.SUCCEEDED
            and r.attempt.number > 1
            and not r.operational
        }
    )
    once_failed: set[str] = set()
    if retried:
        in_retried, params = tx.among(retried)
        once_failed = {
            row[0]
            for row in tx.rows(
                f"SELECT DISTINCT delivery_id FROM attempts WHERE delivery_id{in_retried}"  # noqa: S608
                f" AND outcome IN {direct.marks_in(_FAILED_FOR_GOOD)}",
                [*params, *_FAILED_FOR_GOOD],
            )
        }
    return found, once_failed


def apply(
    tx: direct.Tx,
    records: Sequence[AttemptRecord],
    loaded: Loaded,
    *,
    now: float,
    limits: Limits,
    mail: bool,
) -> list[Incident]:
    """Fold a batch's attempts into webhook health and act on it; return the incidents."""
    per_webhook: dict[str, list[AttemptRecord]] = {}
    for record in records:
        if record.counts:
            per_webhook.setdefault(record.attempt.webhook_id, []).append(record)
    if not per_webhook:
        return []
    found, once_failed = loaded
    incidents: list[Incident] = []
    notes: list[tuple[Any, ...]] = []
    changes: list[tuple[Any, ...]] = []
    for webhook_id in sorted(per_webhook):
        row = found.get(webhook_id)
        if row is None:  # deleted while the attempt was in flight
            continue
        batch = sorted(per_webhook[webhook_id], key=lambda r: r.attempt.started_at)
        failures = [r for r in batch if r.attempt.outcome != "succeeded"]
        last_error = failures[-1].last_error if failures else None
        before = Health(
            row.failure_streak, row.failing_since, row.last_success_at, row.circuit_open_until
        )
        verdict = judge(
            before,
            [Try(r.attempt.started_at, r.attempt.outcome == "succeeded") for r in batch],
            limits.for_webhook(row.disable_after_failures, row.disable_after_seconds),
            now=now,
            last_error=last_error,
        )
        health = verdict.health
        reason = next((r.disable_reason for r in batch if r.disable_reason), verdict.disable)
        if reason is not None:
            health = replace(health, circuit_open_until=None)
        changes.append(
            (
                health.failure_streak,
                health.failing_since,
                health.last_success_at,
                health.circuit_open_until,
                last_error,
                failures[-1].attempt.started_at if failures else None,
                webhook_id,
            )
        )
        mails = mail and bool(row.mail_exceptions_to)
        about = {
            "app_id": row.app_id,
            "webhook_id": webhook_id,
            "webhook_name": row.name,
            "webhook_url": row.url,
            "at": now,
        }
        for r in batch:
            if r.status is DeliveryStatus.FAILED:
                if not r.operational:
                    incidents.append(_delivery_incident(operational.DELIVERY_FAILED, r, about))
                if mails:
                    notes.append(_note(row.app_id, webhook_id, DELIVERY_FAILED, now, r))
            elif r.attempt.delivery_id in once_failed:
                incidents.append(_delivery_incident(operational.DELIVERY_RECOVERED, r, about))
        if not row.enabled:
            # Attempts in flight when it was disabled: what they left pending waits too.
            _park(tx, [r.attempt.delivery_id for r in batch if r.status is _WAITS])
        if reason is not None:
            if row.enabled:
                disable(tx, webhook_id, reason, now)
                incidents.append(
                    Incident(
                        operational.WEBHOOK_DISABLED,
                        occasion=batch[-1].attempt.id,
                        reason=reason,
                        error=last_error,
                        attempts=health.failure_streak,
                        **about,
                    )
                )
                if mails:
                    notes.append(_note(row.app_id, webhook_id, WEBHOOK_DISABLED, now, error=reason))
        elif verdict.circuit_opened and health.circuit_open_until is not None:
            wait = health.circuit_open_until - now  # probe_delay: 5 s doubling to the interval
            _hold(tx, webhook_id, health.circuit_open_until, max(wait, 0.0))
        elif verdict.circuit_closed and before.circuit_open_until is not None:
            held_until = before.circuit_open_until + limits.circuit_interval
            _let_go(tx, webhook_id, held_until, now)
    tx.many(_SET_HEALTH, changes)
    tx.each(_INSERT_NOTE, notes)
    return incidents


# PENDING_OF_WEBHOOK reaches the due index: without it these scanned all of a
# webhook's deliveries, finished ones included.
_PARK = "UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending' AND id"
_DELAY_PENDING = (
    f"UPDATE deliveries SET next_attempt_at = ? WHERE {PENDING_OF_WEBHOOK}"  # noqa: S608
    " AND next_attempt_at < ?"
)
_PROBE_FIRST = (
    "UPDATE deliveries SET next_attempt_at = ? WHERE id = (SELECT id FROM deliveries"  # noqa: S608
    f" WHERE {PENDING_OF_WEBHOOK} AND next_attempt_at < ? ORDER BY next_attempt_at, id LIMIT 1)"
)
_LET_GO = (
    f"UPDATE deliveries SET next_attempt_at = ? WHERE {PENDING_OF_WEBHOOK}"  # noqa: S608
    " AND next_attempt_at > ? AND next_attempt_at <= ?"
)
_NOTE_COLUMNS = (
    "id",
    "app_id",
    "webhook_id",
    "kind",
    "delivery_id",
    "event_id",
    "event_type",
    "error",
    "created_at",
    "sent_at",
)
_INSERT_NOTE = direct.bulk_insert(notifications, _NOTE_COLUMNS)


def _park(tx: direct.Tx, delivery_ids: Sequence[str]) -> None:
    if delivery_ids:
        among, params = tx.among(delivery_ids)
        tx.count(_PARK + among, (PARKED_AT, *params))


def _hold(tx: direct.Tx, webhook_id: str, until: float, interval: float) -> None:
    """Make the webhook's pending deliveries wait: the oldest probes at `until`, the rest after.

    The rest wait one interval longer, so by the time they are due the probe has
    answered: a success lets them go at once (`_let_go`), a failure holds them again.
    """
    later = until + interval
    tx.count(_DELAY_PENDING, (later, webhook_id, later))
    # The probe is the first due of all it is owed, also one whose own retry is
    # further away (a failed probe, or one that failed before the circuit opened):
    # else a circuit whose deliveries all wait out long retries would probe none.
    tx.count(_PROBE_FIRST, (until, webhook_id, PARKED_AT))


def _let_go(tx: direct.Tx, webhook_id: str, held_until: float, now: float) -> None:
    """Make the deliveries an open circuit held back due now, and any waiting out a retry.

    A success proves the endpoint back: a delivery whose own retry the outage had
    put minutes away (it failed before the circuit opened, or was a failed probe)
    goes now with the rest instead of waiting that out. Parked ones stay parked.
    """
    if tx.count(_LET_GO, (now, webhook_id, now, max(held_until, PARKED_AT - 1))):
        notify_in(tx)


def _delivery_incident(kind: str, record: AttemptRecord, about: dict[str, Any]) -> Incident:
    return Incident(
        kind,
        occasion=record.attempt.id,
        error=record.last_error,
        delivery_id=record.attempt.delivery_id,
        event_id=record.event_id,
        event_type=record.event_type,
        attempts=record.attempt.number,
        status_code=record.attempt.response_status,
        **about,
    )


def _note(
    app_id: str,
    webhook_id: str,
    kind: str,
    now: float,
    record: AttemptRecord | None = None,
    *,
    error: str | None = None,
) -> tuple[Any, ...]:
    """Return a notifications row, in _NOTE_COLUMNS order."""
    return (
        ids.new_id("ntf", now),
        app_id,
        webhook_id,
        kind,
        record.attempt.delivery_id if record else None,
        record.event_id if record else None,
        record.event_type if record else None,
        record.last_error if record else error,
        now,
        None,
    )


class CircuitRepository:
    """The circuit's gate at send time: one probe per interval, the rest wait."""

    def __init__(self, engines: Engines) -> None:
        self._db = engines

    async def probe_or_hold(self, claimed: Claimed, *, now: float, interval: float) -> bool:
        """Return True to send `claimed` now (it is the probe, or the circuit has closed).

        Otherwise give it back, due one interval after the next probe. Taking the
        probe moves `circuit_open_until` an interval on, in one conditional
        UPDATE, so of several workers exactly one probes.
        """
        webhook_id = claimed.webhook.id
        async with self._db.write.begin() as conn:
            taken = await conn.execute(
                webhooks.update()
                .where(
                    webhooks.c.id == webhook_id,
                    webhooks.c.circuit_open_until.is_not(None),
                    webhooks.c.circuit_open_until <= now,
                )
                .values(circuit_open_until=now + interval)
            )
            if taken.rowcount:
                return True
            until = (
                await conn.execute(
                    sa.select(webhooks.c.circuit_open_until).where(webhooks.c.id == webhook_id)
                )
            ).scalar()
            if until is None:
                return True
            await conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.id == claimed.delivery.id,
                    deliveries.c.claim_token == claimed.claim_token,
                )
                .values(
                    status=_PENDING,
                    next_attempt_at=until + interval,
                    claim_token=None,
                    updated_at=now,
                )
            )
        return False
