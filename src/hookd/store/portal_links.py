"""Portal links, and the console's signing secret (kept in the `instance` table)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from hookd.store.engine import Engines
from hookd.store.tables import instance, portal_links

_SECRET_KEY = "console_secret"


@dataclass(frozen=True, slots=True)
class PortalLink:
    id: str
    app_id: str
    frame_origin: str | None
    created_by: str
    created_at: float
    expires_at: float
    revoked_at: float | None

    def live(self, now: float) -> bool:
        return self.revoked_at is None and self.expires_at > now


def _link(row: sa.Row[tuple[object, ...]]) -> PortalLink:
    m = row._mapping
    return PortalLink(
        id=m["id"],
        app_id=m["app_id"],
        frame_origin=m["frame_origin"],
        created_by=m["created_by"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
    )


class PortalLinkRepository:
    def __init__(self, engines: Engines) -> None:
        self._db = engines

    async def create(self, link: PortalLink, token_hash: str) -> None:
        async with self._db.write.begin() as conn:
            await conn.execute(
                portal_links.insert().values(
                    id=link.id,
                    app_id=link.app_id,
                    token_hash=token_hash,
                    frame_origin=link.frame_origin,
                    created_by=link.created_by,
                    created_at=link.created_at,
                    expires_at=link.expires_at,
                    revoked_at=None,
                )
            )

    async def by_hash(self, token_hash: str) -> PortalLink | None:
        query = sa.select(portal_links).where(portal_links.c.token_hash == token_hash)
        async with self._db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        return _link(row) if row else None

    async def get(self, app_id: str, link_id: str) -> PortalLink | None:
        query = sa.select(portal_links).where(
            portal_links.c.app_id == app_id, portal_links.c.id == link_id
        )
        async with self._db.read.connect() as conn:
            row = (await conn.execute(query)).first()
        return _link(row) if row else None

    async def of_app(self, app_id: str) -> list[PortalLink]:
        query = (
            sa.select(portal_links)
            .where(portal_links.c.app_id == app_id)
            .order_by(portal_links.c.id.desc())
        )
        async with self._db.read.connect() as conn:
            return [_link(r) for r in await conn.execute(query)]

    async def revoke(self, app_id: str, link_id: str, now: float) -> bool:
        query = (
            portal_links.update()
            .where(
                portal_links.c.app_id == app_id,
                portal_links.c.id == link_id,
                portal_links.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        async with self._db.write.begin() as conn:
            return (await conn.execute(query)).rowcount > 0

    async def console_secret(self) -> str:
        """Return the instance's console signing secret, making it on first use."""
        query = sa.select(instance.c.value).where(instance.c.key == _SECRET_KEY)
        async with self._db.read.connect() as conn:
            found = (await conn.execute(query)).scalar()
        if found is not None:
            return str(found)
        fresh = secrets.token_urlsafe(32)
        async with self._db.write.begin() as conn:
            # Another process may have made one meanwhile: the first one written wins.
            again = (await conn.execute(query)).scalar()
            if again is None:
                await conn.execute(instance.insert().values(key=_SECRET_KEY, value=fresh))
                return fresh
        return str(again)
