"""Teams and roles through the API: 12 users, every webhook route, two orgs.

Every user holds one of the 12 (org role x app role) pairs for the app `shop`
of org Acme, and calls every route under `/v1/apps/shop` with its own token.
What each one gets is checked against the table written out here (the
product brief's rules), not against hookd's own table: 404 when the app does
not exist for the user, 403 when it may see but not do, else the route's
answer. A second org's app must stay invisible to all of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.receiver import Receiver
from tests.support.server import HookdProcess

ORG_ROLES = ("owner", "member", "viewer", None)
APP_ROLES = ("owner", "viewer", None)


def may_view(org: str | None, app: str | None) -> bool:
    return org in ("owner", "member", "viewer") and app in ("owner", "viewer")


def may_change(org: str | None, app: str | None) -> bool:
    return org in ("owner", "member") and app in ("owner", "viewer")


def sees_app(org: str | None, app: str | None) -> bool:
    # Org owners manage the app's members, so the app exists for them.
    return may_view(org, app) or org == "owner" or (org is not None and app == "owner")


@dataclass
class World:
    hookd: HookdProcess
    admin: httpx.Client
    tokens: dict[tuple[str | None, str | None], str]
    users: dict[tuple[str | None, str | None], str]
    webhook: str
    delivery: str
    event: str
    rival_webhook: str


@pytest.fixture
def world(hookd: HookdProcess, receiver: Receiver) -> Iterator[World]:
    with hookd.client() as admin:
        yield _build(hookd, admin, receiver)


def _build(hookd: HookdProcess, admin: httpx.Client, receiver: Receiver) -> World:
    acme = admin.post("/v1/orgs", json={"name": "Acme"}).json()["id"]
    other = admin.post("/v1/orgs", json={"name": "Other"}).json()["id"]
    assert admin.post("/v1/apps", json={"uid": "shop", "org": acme}).status_code == 201
    assert admin.post("/v1/apps", json={"uid": "rival", "org": other}).status_code == 201
    for app in ("shop", "rival"):
        r = admin.post(f"/v1/apps/{app}/event-types", json={"name": "order.paid"})
        assert r.status_code == 201, r.text
    webhook = _webhook(admin, "shop", receiver)
    rival = _webhook(admin, "rival", receiver)
    published = admin.post("/v1/apps/shop/events", json={"type": "order.paid", "data": {}})
    assert published.status_code == 202, published.text
    event = published.json()["id"]
    receiver.wait_for(1)
    deliveries = admin.get("/v1/apps/shop/deliveries").json()["data"]
    tokens, users = {}, {}
    for org_role, app_role in itertools.product(ORG_ROLES, APP_ROLES):
        tag = f"{org_role or 'none'}-{app_role or 'none'}"
        r = admin.post("/v1/users", json={"email": f"{tag}@acme.test", "name": tag})
        assert r.status_code == 201, r.text
        user = r.json()["id"]
        if org_role:
            r = admin.put(f"/v1/orgs/{acme}/members/{user}", json={"role": org_role})
            assert r.status_code == 200, r.text
        if app_role:
            r = admin.put(f"/v1/apps/shop/members/{user}", json={"role": app_role})
            assert r.status_code == 200, r.text
        r = admin.post(f"/v1/users/{user}/tokens", json={"name": "test"})
        assert r.status_code == 201, r.text
        tokens[(org_role, app_role)] = r.json()["token"]
        users[(org_role, app_role)] = user
    return World(hookd, admin, tokens, users, webhook, deliveries[0]["id"], event, rival)


def _webhook(api: httpx.Client, app: str, receiver: Receiver) -> str:
    body = {"url": f"{receiver.url}/{app}", "events": ["order.paid"], "secret": None}
    r = api.post(f"/v1/apps/{app}/webhooks", json=body)
    assert r.status_code == 201, r.text
    wh: str = r.json()["id"]
    return wh


Call = Callable[[httpx.Client, World], httpx.Response]
BASE = "/v1/apps/shop"
VIEW_ROUTES: dict[str, Call] = {
    "get app": lambda c, w: c.get(BASE),
    "list webhooks": lambda c, w: c.get(f"{BASE}/webhooks"),
    "get webhook": lambda c, w: c.get(f"{BASE}/webhooks/{w.webhook}"),
    "preview webhook": lambda c, w: c.post(f"{BASE}/webhooks/{w.webhook}/preview", json={}),
    "list deliveries": lambda c, w: c.get(f"{BASE}/deliveries"),
    "get delivery": lambda c, w: c.get(f"{BASE}/deliveries/{w.delivery}"),
    "get event": lambda c, w: c.get(f"{BASE}/events/{w.event}"),
    "list event types": lambda c, w: c.get(f"{BASE}/event-types"),
    "get event type": lambda c, w: c.get(f"{BASE}/event-types/order.paid"),
}
CHANGE_ROUTES: dict[str, Call] = {
    "create webhook": lambda c, w: c.post(
        f"{BASE}/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["order.paid"]}
    ),
    "update webhook": lambda c, w: c.patch(
        f"{BASE}/webhooks/{w.webhook}", json={"description": "changed"}
    ),
    "read secret": lambda c, w: c.get(f"{BASE}/webhooks/{w.webhook}/secret"),
    "rotate secret": lambda c, w: c.post(f"{BASE}/webhooks/{w.webhook}/rotate-secret", json={}),
    "send test": lambda c, w: c.post(f"{BASE}/webhooks/{w.webhook}/test", json={}),
    "flush": lambda c, w: c.post(f"{BASE}/webhooks/{w.webhook}/flush"),
    "recover": lambda c, w: c.post(
        f"{BASE}/webhooks/{w.webhook}/recover", json={"since": "2020-01-01T00:00:00Z"}
    ),
    "retry delivery": lambda c, w: c.post(f"{BASE}/deliveries/{w.delivery}/retry"),
    "cancel delivery": lambda c, w: c.post(f"{BASE}/deliveries/{w.delivery}/cancel"),
    "create event type": lambda c, w: c.post(f"{BASE}/event-types", json={"name": "x.y"}),
    "update event type": lambda c, w: c.patch(
        f"{BASE}/event-types/order.paid", json={"description": "d"}
    ),
    "publish": lambda c, w: c.post(f"{BASE}/events", json={"type": "order.paid", "data": {}}),
    "publish batch": lambda c, w: c.post(
        f"{BASE}/events/batch", json={"events": [{"type": "order.paid", "data": {}}]}
    ),
}
PAIRS = list(itertools.product(ORG_ROLES, APP_ROLES))


def _expect(route_allowed: bool, org: str | None, app: str | None, r: httpx.Response) -> None:
    where = f"org {org}, app {app}: {r.request.method} {r.request.url.path}"
    if not sees_app(org, app):
        assert r.status_code == 404, f"{where} -> {r.status_code} {r.text}"
        assert r.json()["error"]["code"] == "not_found"
    elif not route_allowed:
        assert r.status_code == 403, f"{where} -> {r.status_code} {r.text}"
        error = r.json()["error"]
        assert error["code"] == "forbidden"
        assert "role" in error["message"]
    else:
        assert r.status_code < 400 or r.status_code in (409, 422), (
            f"{where} -> {r.status_code} {r.text}"
        )


class TestEveryUserOnEveryRoute:
    def test_the_table_holds_for_all_12_users(self, world: World) -> None:
        for (org, app), token in world.tokens.items():
            with world.hookd.client(token) as client:
                for call in VIEW_ROUTES.values():
                    _expect(may_view(org, app), org, app, call(client, world))
                for call in CHANGE_ROUTES.values():
                    _expect(may_change(org, app), org, app, call(client, world))
                # Delete last, on a webhook of its own.
                created = world.admin.post(
                    f"{BASE}/webhooks",
                    json={"url": "http://127.0.0.1:9/d", "events": ["order.paid"]},
                ).json()["id"]
                r = client.delete(f"{BASE}/webhooks/{created}")
                _expect(may_change(org, app), org, app, r)
                if may_change(org, app):
                    assert r.status_code == 204

    def test_viewers_see_the_webhooks_they_may_not_change(self, world: World) -> None:
        with world.hookd.client(world.tokens[("viewer", "viewer")]) as client:
            listed = client.get(f"{BASE}/webhooks").json()["data"]
            assert [w["id"] for w in listed] == [world.webhook]
            r = client.patch(f"{BASE}/webhooks/{world.webhook}", json={"enabled": False})
            assert r.status_code == 403
            assert "org role owner|member" in r.json()["error"]["message"]
        assert world.admin.get(f"{BASE}/webhooks/{world.webhook}").json()["enabled"] is True


class TestNothingLeaksAcrossOrgs:
    def test_another_orgs_app_does_not_exist_for_anyone_in_acme(self, world: World) -> None:
        paths = [
            "/v1/apps/rival",
            "/v1/apps/rival/webhooks",
            f"/v1/apps/rival/webhooks/{world.rival_webhook}",
            "/v1/apps/rival/deliveries",
            "/v1/apps/rival/members",
        ]
        for token in world.tokens.values():
            with world.hookd.client(token) as client:
                for path in paths:
                    r = client.get(path)
                    assert r.status_code == 404, (path, r.text)
                r = client.post("/v1/apps/rival/events", json={"type": "order.paid", "data": {}})
                assert r.status_code == 404
                # Guessing the id through an app the user does see finds nothing either.
                r = client.get(f"{BASE}/webhooks/{world.rival_webhook}")
                assert r.status_code in (403, 404)
                if r.status_code == 403:
                    continue
                assert r.json()["error"]["code"] == "not_found"
                listed = client.get("/v1/apps").json()
                assert "rival" not in [a["uid"] for a in listed]

    def test_me_lists_only_my_orgs_and_apps(self, world: World) -> None:
        with world.hookd.client(world.tokens[("member", "viewer")]) as client:
            me = client.get("/v1/me").json()
        assert me["kind"] == "user"
        assert [o["name"] for o in me["orgs"]] == ["Acme"]
        assert [(o["role"]) for o in me["orgs"]] == ["member"]
        assert [(a["uid"], a["org_role"], a["app_role"]) for a in me["apps"]] == [
            ("shop", "member", "viewer")
        ]


class TestMembersAndTokens:
    def test_an_org_owner_manages_members_and_a_member_may_not(self, world: World) -> None:
        owner = world.tokens[("owner", None)]
        member = world.tokens[("member", "owner")]
        target = world.users[(None, None)]
        acme = world.admin.get("/v1/apps/shop").json()["org"]
        with world.hookd.client(owner) as client:
            r = client.put(f"/v1/orgs/{acme}/members/{target}", json={"role": "viewer"})
            assert r.status_code == 200, r.text
            assert r.json()["role"] == "viewer"
            r = client.put(f"/v1/apps/shop/members/{target}", json={"role": "viewer"})
            assert r.status_code == 200, r.text
        with world.hookd.client(world.tokens[(None, None)]) as client:
            assert client.get(f"{BASE}/webhooks").status_code == 200
        with world.hookd.client(member) as client:
            r = client.put(f"/v1/orgs/{acme}/members/{target}", json={"role": "owner"})
            assert r.status_code == 403
            # An app owner manages the app's members.
            r = client.delete(f"/v1/apps/shop/members/{target}")
            assert r.status_code == 204
        with world.hookd.client(world.tokens[(None, None)]) as client:
            assert client.get(f"{BASE}/webhooks").status_code == 404

    def test_the_last_owner_of_an_org_stays(self, world: World) -> None:
        acme = world.admin.get("/v1/apps/shop").json()["org"]
        owners = [k for k in world.users if k[0] == "owner"]
        with world.hookd.client(world.tokens[owners[0]]) as client:
            for key in owners[1:]:
                r = client.delete(f"/v1/orgs/{acme}/members/{world.users[key]}")
                assert r.status_code == 204
            r = client.delete(f"/v1/orgs/{acme}/members/{world.users[owners[0]]}")
            assert r.status_code == 409

    def test_a_revoked_token_stops_working(self, world: World) -> None:
        user = world.users[("member", "owner")]
        token = world.tokens[("member", "owner")]
        with world.hookd.client(token) as client:
            assert client.get(f"{BASE}/webhooks").status_code == 200
            listed = client.get(f"/v1/users/{user}/tokens").json()
            assert [set(t) >= {"id", "name", "prefix"} for t in listed] == [True]
            assert all(t["token"] is None for t in listed)
            r = client.delete(f"/v1/users/{user}/tokens/{listed[0]['id']}")
            assert r.status_code == 204
            r = client.get(f"{BASE}/webhooks")
            assert r.status_code == 401

    def test_a_user_may_not_see_another_user(self, world: World) -> None:
        other = world.users[("owner", "owner")]
        with world.hookd.client(world.tokens[("member", "viewer")]) as client:
            assert client.get(f"/v1/users/{other}").status_code == 404
            assert client.post(f"/v1/users/{other}/tokens", json={"name": "x"}).status_code == 404
            assert client.get("/v1/users").status_code == 403
            r = client.post("/v1/users", json={"email": "x@y.z", "name": "x"})
            assert r.status_code == 403


class TestAppKeys:
    def _key(self, world: World, role: str) -> str:
        r = world.admin.post("/v1/apps/shop/api-keys", json={"name": role, "role": role})
        assert r.status_code == 201, r.text
        assert r.json()["role"] == role
        key: str = r.json()["key"]
        return key

    def test_a_viewer_key_reads_and_a_publisher_key_publishes(self, world: World) -> None:
        event: dict[str, Any] = {"type": "order.paid", "data": {}}
        with world.hookd.client(self._key(world, "viewer")) as viewer:
            assert viewer.get(f"{BASE}/webhooks").status_code == 200
            assert viewer.post(f"{BASE}/events", json=event).status_code == 403
            assert viewer.patch(f"{BASE}/webhooks/{world.webhook}", json={}).status_code == 403
        with world.hookd.client(self._key(world, "publisher")) as publisher:
            assert publisher.post(f"{BASE}/events", json=event).status_code == 202
            assert publisher.get(f"{BASE}/webhooks").status_code == 403
            assert publisher.get("/v1/apps/rival").status_code == 404


class TestTheAuditLog:
    def test_changes_to_members_keys_and_tokens_are_recorded(self, world: World) -> None:
        acme = world.admin.get("/v1/apps/shop").json()["org"]
        entries = world.admin.get(f"/v1/orgs/{acme}/audit", params={"limit": 250}).json()
        actions = {e["action"] for e in entries["data"]}
        assert {"org_member.set", "app_member.set", "token.create"} <= actions
        member_set = next(e for e in entries["data"] if e["action"] == "app_member.set")
        assert member_set["actor"] == "admin"
        assert member_set["changed"] == ["role"]
        with world.hookd.client(world.tokens[("member", "owner")]) as client:
            assert client.get(f"/v1/orgs/{acme}/audit").status_code == 403
        with world.hookd.client(world.tokens[("owner", None)]) as client:
            page = client.get(f"/v1/orgs/{acme}/audit", params={"limit": 2}).json()
        assert len(page["data"]) == 2
        assert page["next_cursor"] == page["data"][-1]["id"]

    def test_webhook_changes_name_the_user_and_the_fields_not_the_values(
        self, world: World
    ) -> None:
        acme = world.admin.get("/v1/apps/shop").json()["org"]
        user = world.users[("member", "owner")]
        with world.hookd.client(world.tokens[("member", "owner")]) as client:
            r = client.patch(
                f"{BASE}/webhooks/{world.webhook}",
                json={"description": "new words", "headers": {"X-Api-Token": "tok-123456"}},
            )
            assert r.status_code == 200, r.text
            r = client.post(f"{BASE}/webhooks/{world.webhook}/rotate-secret", json={})
            assert r.status_code == 200
            secret = r.json()["secret"]
        page = world.admin.get(f"/v1/orgs/{acme}/audit").json()["data"]
        mine = [e for e in page if e["actor"] == user]
        assert [e["action"] for e in mine[:2]] == ["webhook.rotate_secret", "webhook.update"]
        assert mine[1]["changed"] == ["description", "headers"]
        assert mine[1]["target"] == world.webhook and mine[1]["app"] is not None
        text = str(page)
        assert "tok-123456" not in text and secret not in text and "new words" not in text
