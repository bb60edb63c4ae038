"""Notifications: failures waiting for the next e-mail digest to a webhook's owners.

record (store/health.py)   a delivery failed for good, or the webhook was disabled:
                           one row, in the transaction that recorded it
due                        webhooks with rows waiting long enough, and no digest
                           within the interval
claim                      take the webhook's turn: `mail_sent_at` moves to now only
                           if the last digest is an interval old, so of several
                           processes exactly one sends it
sent | retry_later         mark the rows sent, or give the turn back for a retry soon
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hookd.store.engine import Engines
from hookd.store.tables import notifications, webhooks

__all__ = ["Digest", "Note", "NotificationRepository"]

KEEP_SENT_SECONDS = 7 * 86400.0  # sent rows kept this long, then deleted


@dataclass(frozen=True, slots=True)
class Note:
    """One line of a digest."""

    id: str
    kind: str  # delivery_failed | webhook_disabled
    delivery_id: str | None
    event_id: str | None
    event_type: str | None
    error: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Digest:
    """A webhook's turn to mail its owners, with what to tell them."""

    webhook_id: str
    app_id: str
    name: str
    url: str
    recipients: str  # comma-separated
    enabled: bool
    disabled_reason: str | None
    claimed_at: float  # the mail_sent_at this claim wrote
    notes: tuple[Note, ...]


class NotificationRepository:
    def __init__(self, engines: Engines) -> None:
        self._db = engines

    async def due(
        self, *, now: float, interval: float, settle: float = 0.0, limit: int = 100
    ) -> list[str]:
        """Return webhooks whose oldest waiting row is `settle` old and last digest `interval`."""
        query = (
            sa.select(notifications.c.webhook_id)
            .join(webhooks, webhooks.c.id == notifications.c.webhook_id)
            .where(
                notifications.c.sent_at.is_(None),
                sa.or_(
                    webhooks.c.mail_sent_at.is_(None),
                    webhooks.c.mail_sent_at <= now - interval,
                ),
            )
            .group_by(notifications.c.webhook_id)
            .having(sa.func.min(notifications.c.created_at) <= now - settle)
            .order_by(notifications.c.webhook_id)
            .limit(limit)
        )
        async with self._db.read.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def claim(self, webhook_id: str, *, now: float, interval: float) -> Digest | None:
        """Take the webhook's turn to be mailed; None if another process has it this interval."""
        async with self._db.write.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        webhooks.c.app_id,
                        webhooks.c.name,
                        webhooks.c.url,
                        webhooks.c.mail_exceptions_to,
                        webhooks.c.enabled,
                        webhooks.c.disabled_reason,
                    )
                    .where(webhooks.c.id == webhook_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                return None
            taken = await conn.execute(
                webhooks.update()
                .where(
                    webhooks.c.id == webhook_id,
                    sa.or_(
                        webhooks.c.mail_sent_at.is_(None),
                        webhooks.c.mail_sent_at <= now - interval,
                    ),
                )
                .values(mail_sent_at=now)
            )
            if taken.rowcount == 0:
                return None
            found = await conn.execute(
                sa.select(notifications)
                .where(
                    notifications.c.webhook_id == webhook_id,
                    notifications.c.sent_at.is_(None),
                    notifications.c.created_at <= now,
                )
                .order_by(notifications.c.created_at, notifications.c.id)
            )
            notes = tuple(
                Note(
                    n.id,
                    n.kind,
                    n.delivery_id,
                    n.event_id,
                    n.event_type,
                    n.error,
                    n.created_at,
                )
                for n in found
            )
        return Digest(
            webhook_id=webhook_id,
            app_id=row.app_id,
            name=row.name,
            url=row.url,
            recipients=row.mail_exceptions_to,
            enabled=bool(row.enabled),
            disabled_reason=row.disabled_reason,
            claimed_at=now,
            notes=notes,
        )

    async def sent(self, digest: Digest, *, now: float) -> None:
        """Mark the digest's rows sent; forget rows sent long ago."""
        async with self._db.write.begin() as conn:
            await _mark(conn, [n.id for n in digest.notes], now)
            await conn.execute(
                notifications.delete().where(
                    notifications.c.webhook_id == digest.webhook_id,
                    notifications.c.sent_at < now - KEEP_SENT_SECONDS,
                )
            )

    async def retry_later(self, digest: Digest, *, at: float, interval: float) -> None:
        """Give the turn back so the digest is tried again at `at` (its rows stay unsent)."""
        async with self._db.write.begin() as conn:
            await conn.execute(
                webhooks.update()
                .where(
                    webhooks.c.id == digest.webhook_id,
                    webhooks.c.mail_sent_at == digest.claimed_at,
                )
                .values(mail_sent_at=at - interval)
            )

    async def unsent(self, webhook_id: str) -> int:
        """Count the rows waiting for the webhook's next digest."""
        query = sa.select(sa.func.count()).where(
            notifications.c.webhook_id == webhook_id, notifications.c.sent_at.is_(None)
        )
        async with self._db.read.connect() as conn:
            return int((await conn.execute(query)).scalar_one())


async def _mark(conn: AsyncConnection, note_ids: Sequence[str], now: float) -> None:
    for start in range(0, len(note_ids), 500):
        await conn.execute(
            notifications.update()
            .where(notifications.c.id.in_(note_ids[start : start + 500]))
            .values(sent_at=now)
        )
