"""Webhooks and the subscription index fan-out reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hookd.domain.models import PARKED_AT, DeliveryStatus, Webhook
from hookd.store import direct, rows
from hookd.store.batches import forget_webhook
from hookd.store.engine import Engines
from hookd.store.records import Page
from hookd.store.tables import (
    DUE,
    PENDING_OF_WEBHOOK,
    deliveries,
    notifications,
    webhook_events,
    webhooks,
)

_JSON_FIELDS = frozenset(
    {"events", "headers", "filter", "signing", "secret_headers", "old_secrets"}
)


def _values(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "old_secrets":
            value = [{"secret": o.secret, "expires_at": o.expires_at} for o in value]
        if key in _JSON_FIELDS:
            out[key] = None if value is None else orjson.dumps(value).decode()
        else:
            out[key] = value
    return out


class WebhookRepository:
    def __init__(self, engines: Engines) -> None:
        self._db = engines
        # Told (after commit) when a disabled webhook is enabled again: operational events.
        self.on_enabled: Callable[[Webhook], None] | None = None

    async def create(self, wh: Webhook) -> None:
        fields = {f.name: getattr(wh, f.name) for f in dataclasses.fields(wh)}
        for name in ("events", "signing", "secret_headers"):
            fields[name] = list(fields[name])
        async with self._db.write.begin() as conn:
            await conn.execute(webhooks.insert().values(**_values(fields)))
            await self._index(conn, wh.app_id, wh.id, wh.events)

    async def get(self, app_id: str, webhook_id: str) -> Webhook | None:
        query = sa.select(webhooks).where(webhooks.c.app_id == app_id, webhooks.c.id == webhook_id)
        async with self._db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        return rows.webhook(row) if row else None

    async def page(
        self, app_id: str, *, limit: int, after: str | None = None, enabled: bool | None = None
    ) -> Page:
        query = sa.select(webhooks).where(webhooks.c.app_id == app_id)
        if after:
            query = query.where(webhooks.c.id > after)
        if enabled is not None:
            query = query.where(webhooks.c.enabled == enabled)
        query = query.order_by(webhooks.c.id).limit(limit + 1)
        async with self._db.read.connect() as conn:
            found = [rows.webhook(r) for r in await conn.execute(query)]
        return Page.cut(found, limit)

    async def update(
        self, app_id: str, webhook_id: str, changes: dict[str, Any], now: float
    ) -> Webhook | None:
        """Apply `changes` (domain field names); enabling wakes parked deliveries."""
        was_enabled = True
        async with self._db.write.begin() as conn:
            if "enabled" in changes:
                was_enabled = bool(
                    (
                        await conn.execute(
                            sa.select(webhooks.c.enabled)
                            .where(webhooks.c.app_id == app_id, webhooks.c.id == webhook_id)
                            .with_for_update()
                        )
                    ).scalar()
                )
            result = await conn.execute(
                webhooks.update()
                .where(webhooks.c.app_id == app_id, webhooks.c.id == webhook_id)
                .values(updated_at=now, **_values(changes))
            )
            if result.rowcount == 0:
                return None
            if "events" in changes:
                await conn.execute(
                    webhook_events.delete().where(webhook_events.c.webhook_id == webhook_id)
                )
                await self._index(conn, app_id, webhook_id, changes["events"])
            if changes.get("enabled") is True:
                await conn.execute(
                    webhooks.update()
                    .where(webhooks.c.id == webhook_id)
                    .values(
                        disabled_reason=None,
                        failure_streak=0,
                        failing_since=None,
                        circuit_open_until=None,
                    )
                )
                await _move_pending(conn, webhook_id, frm=PARKED_AT, to=now)
            elif changes.get("enabled") is False:
                await _move_pending(conn, webhook_id, frm=None, to=PARKED_AT)
        updated = await self.get(app_id, webhook_id)
        if updated is not None and updated.enabled and not was_enabled and self.on_enabled:
            self.on_enabled(updated)
        return updated

    async def delete(self, app_id: str, webhook_id: str) -> bool:
        async with self._db.write.begin() as conn:
            # The webhook's row first, as settling and fan-outs lock it before
            # anything else (the triggers of migration 0005 then take `subscriptions`).
            owned = await conn.execute(
                sa.select(webhooks.c.id)
                .where(webhooks.c.app_id == app_id, webhooks.c.id == webhook_id)
                .with_for_update()
            )
            if owned.first() is None:
                return False  # another app's webhook is left alone, deliveries and all
            # What waits in its queue goes with it (queued deliveries and unsent batches).
            await forget_webhook(conn, webhook_id)
            await conn.execute(deliveries.delete().where(deliveries.c.webhook_id == webhook_id))
            await conn.execute(
                notifications.delete().where(notifications.c.webhook_id == webhook_id)
            )
            await conn.execute(
                webhook_events.delete().where(webhook_events.c.webhook_id == webhook_id)
            )
            result = await conn.execute(
                webhooks.delete().where(webhooks.c.app_id == app_id, webhooks.c.id == webhook_id)
            )
        return result.rowcount > 0

    @staticmethod
    async def _index(conn: AsyncConnection, app_id: str, webhook_id: str, patterns: Any) -> None:
        unique = sorted(set(patterns))
        if unique:
            await conn.execute(
                webhook_events.insert(),
                [{"app_id": app_id, "pattern": p, "webhook_id": webhook_id} for p in unique],
            )


async def _move_pending(
    conn: AsyncConnection, webhook_id: str, *, frm: float | None, to: float
) -> None:
    query = deliveries.update().where(
        deliveries.c.webhook_id == webhook_id,
        sa.text(DUE),  # the due index's own words (tables.DUE)
        deliveries.c.status == DeliveryStatus.PENDING.value,
    )
    if frm is not None:
        query = query.where(deliveries.c.next_attempt_at >= frm)
    await conn.execute(query.values(next_attempt_at=to))


def disable(tx: direct.Tx, webhook_id: str, reason: str, now: float) -> None:
    """Disable a webhook inside a caller's transaction, parking what it is owed."""
    tx.count(
        "UPDATE webhooks SET enabled = ?, disabled_reason = ?, updated_at = ? WHERE id = ?",
        (False, reason, now, webhook_id),
    )
    tx.count(
        f"UPDATE deliveries SET next_attempt_at = ? WHERE {PENDING_OF_WEBHOOK}",  # noqa: S608
        (PARKED_AT, webhook_id),
    )
