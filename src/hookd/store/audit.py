"""The audit log: who changed what, and when."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import sqlalchemy as sa

from hookd import ids
from hookd.domain.people import AuditEntry
from hookd.store.engine import Engines
from hookd.store.tables import audit_log


class AuditRepository:
    def __init__(self, engines: Engines) -> None:
        self._db = engines

    async def record(
        self,
        org_id: str,
        app_id: str | None,
        actor: str,
        action: str,
        target: str,
        changed: Sequence[str],
        now: float,
    ) -> None:
        async with self._db.write.begin() as conn:
            await conn.execute(
                audit_log.insert().values(
                    id=ids.new_id("aud", now),
                    org_id=org_id,
                    app_id=app_id,
                    actor=actor,
                    action=action,
                    target=target,
                    changed=orjson.dumps(sorted(changed)).decode(),
                    at=now,
                )
            )

    async def page(self, org_id: str, limit: int, before: str | None) -> list[AuditEntry]:
        """Return the org's entries, newest first, older than `before` (an entry id)."""
        query = (
            sa.select(audit_log)
            .where(audit_log.c.org_id == org_id)
            .order_by(audit_log.c.id.desc())
            .limit(limit)
        )
        if before:
            query = query.where(audit_log.c.id < before)
        async with self._db.read.connect() as conn:
            return [
                AuditEntry(
                    id=r.id,
                    org_id=r.org_id,
                    app_id=r.app_id,
                    actor=r.actor,
                    action=r.action,
                    target=r.target,
                    changed=tuple(orjson.loads(r.changed)),
                    at=r.at,
                )
                for r in await conn.execute(query)
            ]
