"""A change made by one hookd process reaches every other within a second.

Each process caches keys and roles (`Auth`), so a busy publisher does not read
the database on every request; the cache must not let a revoked token or a
removed member keep working for longer than `CACHE_SECONDS`.
"""

from __future__ import annotations

import time

import pytest

from hookd.domain.roles import Action, AppRole, OrgRole
from hookd.errors import NotFound, Unauthorized
from hookd.service.audit import AuditService
from hookd.service.auth import ADMIN, CACHE_SECONDS, Auth
from hookd.service.people import PeopleService
from hookd.store import Store
from tests.support.polling import eventually


@pytest.fixture
async def shop(store: Store) -> str:
    org = await store.people.create_org("Acme", time.time())
    app = await store.apps.create("shop", "Shop", time.time(), org.id)
    return app.id


async def _user(store: Store, shop: str) -> tuple[str, str]:
    """Make a member of Acme (member) and of shop (owner); return its id and a token."""
    auth = Auth(store, None)
    people = PeopleService(store, auth, AuditService(store))
    user = await people.create_user(ADMIN, "ada@acme.test", "Ada", None, False)
    app = await store.apps.get(shop)
    assert app is not None
    await people.set_org_member(ADMIN, app.org_id, user.id, OrgRole.MEMBER)
    await people.set_app_member(ADMIN, shop, user.id, AppRole.OWNER)
    _, token = await people.create_token(ADMIN, user.id, "t")
    return user.id, token


class TestAnotherProcessSeesChangesWithinASecond:
    async def test_a_revoked_token(self, store: Store, shop: str) -> None:
        user, token = await _user(store, shop)
        other = Auth(store, None)  # another API process, with its own cache
        who = await other.principal(f"Bearer {token}")
        await other.app(who, shop, Action.CHANGE)
        here = PeopleService(store, Auth(store, None), AuditService(store))
        tokens = await here.tokens(ADMIN, user)
        revoked_at = time.monotonic()
        await here.revoke_token(ADMIN, user, tokens[0].id)

        async def refused() -> bool:
            try:
                await other.principal(f"Bearer {token}")
            except Unauthorized:
                return True
            return False

        await eventually(refused, timeout=3, what="the revoked token to be refused")
        assert time.monotonic() - revoked_at <= CACHE_SECONDS + 0.5

    async def test_a_removed_member(self, store: Store, shop: str) -> None:
        user, token = await _user(store, shop)
        other = Auth(store, None)
        who = await other.principal(f"Bearer {token}")
        await other.app(who, shop, Action.VIEW)
        here = PeopleService(store, Auth(store, None), AuditService(store))
        removed_at = time.monotonic()
        await here.remove_app_member(ADMIN, shop, user)

        async def gone() -> bool:
            try:
                await other.app(who, shop, Action.VIEW)
            except NotFound:
                return True
            return False

        await eventually(gone, timeout=3, what="the removed member to lose the app")
        assert time.monotonic() - removed_at <= CACHE_SECONDS + 0.5

    async def test_within_the_second_the_cache_spares_the_database(
        self, store: Store, shop: str
    ) -> None:
        _, token = await _user(store, shop)
        auth = Auth(store, None)
        reads = 0
        original = store.people.roles

        async def counted(user_id: str, app_id: str):  # type: ignore[no-untyped-def]
            nonlocal reads
            reads += 1
            return await original(user_id, app_id)

        store.people.roles = counted  # type: ignore[method-assign]
        who = await auth.principal(f"Bearer {token}")
        for _ in range(200):
            await auth.app(who, shop, Action.PUBLISH)
        assert reads == 1
