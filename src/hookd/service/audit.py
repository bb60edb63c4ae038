"""The audit log: every change to webhooks, members, keys and tokens, by whom.

The actor is the caller the enforcement point (`Auth`) saw in this request;
entries name fields that changed, never their values, so no secret lands here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from hookd.domain.models import App
from hookd.domain.people import AuditEntry
from hookd.service.auth import current_actor
from hookd.store import Store


class AuditService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def record(
        self,
        org_id: str,
        action: str,
        target: str,
        changed: Iterable[str] = (),
        *,
        app_id: str | None = None,
    ) -> None:
        """Record that the current caller did `action` to `target`."""
        await self._store.audit.record(
            org_id, app_id, current_actor.get(), action, target, list(changed), time.time()
        )

    async def in_app(self, app: App, action: str, target: str, changed: Iterable[str] = ()) -> None:
        """Record a change inside `app` (webhooks, keys, members)."""
        await self.record(app.org_id, action, target, changed, app_id=app.id)

    async def page(self, org_id: str, limit: int, before: str | None) -> list[AuditEntry]:
        return await self._store.audit.page(org_id, limit, before)
