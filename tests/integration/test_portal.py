"""Portal links on each backend: made, opened, listed, revoked, expired; the console secret."""

from __future__ import annotations

import time

import pytest

from hookd.domain.roles import Action, KeyRole
from hookd.errors import Forbidden, Invalid
from hookd.service.auth import ADMIN, Auth, Principal
from hookd.service.portal import PortalService, PortalSettings, hash_token, portal_principal
from hookd.store import Store


async def _service(store: Store, **settings: object) -> tuple[PortalService, Auth, str]:
    await store.apps.ensure_default(time.time())
    auth = Auth(store, None)
    default = await auth.app(ADMIN, "default")
    return PortalService(store, auth, PortalSettings(**settings)), auth, default.id  # type: ignore[arg-type]


class TestPortalLinks:
    async def test_a_link_opens_its_app_with_owner_rights_until_revoked(self, store: Store) -> None:
        portal, auth, app_id = await _service(store)
        link, token = await portal.create(ADMIN, "default", frame_origin="https://a.example.com/")
        assert token.startswith("hpl_")
        assert link.frame_origin == "https://a.example.com"
        assert 3590 < link.expires_at - time.time() <= 3600
        assert await store.portal_links.by_hash(token) is None  # only the hash is kept
        assert (await store.portal_links.by_hash(hash_token(token))) is not None

        opened = await portal.open(token)
        assert opened is not None and opened.id == link.id
        visitor = portal_principal(opened)
        assert await auth.may(visitor, await auth.app(ADMIN, app_id), Action.CHANGE)
        assert [entry.id for entry in await portal.links(ADMIN, "default")] == [link.id]

        await portal.revoke(ADMIN, "default", link.id)
        assert await portal.open(token) is None
        assert await portal.live(app_id, link.id) is None

    async def test_an_expired_link_opens_nothing(self, store: Store) -> None:
        portal, _, _ = await _service(store)
        _, token = await portal.create(ADMIN, "default", expires_in=0.2)
        deadline = time.monotonic() + 5
        while await portal.open(token) is not None:
            assert time.monotonic() < deadline, "the link never expired"
            await store.apps.get("default")  # a round trip instead of a sleep

    async def test_limits_and_who_may_make_links(self, store: Store) -> None:
        portal, _, app_id = await _service(store, portal_frame_origins="https://ok.example.com")
        with pytest.raises(Invalid) as too_long:
            await portal.create(ADMIN, "default", expires_in=10**9)
        assert too_long.value.field == "expires_in"
        with pytest.raises(Invalid) as origin:
            await portal.create(ADMIN, "default", frame_origin="https://other.example.com")
        assert origin.value.field == "frame_origin"
        viewer_key = Principal(app_id=app_id, key_role=KeyRole.VIEWER, key_id="key_1")
        with pytest.raises(Forbidden):
            await portal.create(viewer_key, "default")
        owner_key = Principal(app_id=app_id, key_role=KeyRole.OWNER, key_id="key_2")
        link, _ = await portal.create(owner_key, "default", frame_origin="https://ok.example.com")
        assert link.created_by == "key_2"


async def test_the_console_secret_is_made_once_and_kept(store: Store) -> None:
    first = await store.portal_links.console_secret()
    assert len(first) >= 32
    assert await store.portal_links.console_secret() == first
