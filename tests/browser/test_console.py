"""The console in a real browser: what a person signing in sees and can do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from hookd.domain.people import DEFAULT_ORG_ID
from tests.browser.conftest import Console
from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver, Reply
from tests.support.server import HookdProcess


class TestSignIn:
    def test_a_wrong_password_is_refused_and_the_right_one_signs_in(
        self, console: Console, make_user: Callable[..., tuple[str, str]]
    ) -> None:
        email, _ = make_user("ada", admin=True)
        console.open("/console/webhooks-nowhere")
        console.open("/console")
        assert "/console/login" in console.driver.current_url
        console.fill("Email", email)
        console.fill("Password", "not the password")
        console.click("Sign in")
        console.see("The email or password is not right")
        console.sign_in(email)
        cookie = console.cookies()["hookd_console"]
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Lax"
        assert cookie["secure"] is False  # --dev: plain http on loopback
        console.click("Sign out")
        console.see("Sign in")
        console.open("/console")
        assert "/console/login" in console.driver.current_url


class TestWebhookLifecycle:
    def test_create_test_edit_deactivate_and_delete_through_the_pages(
        self,
        console: Console,
        make_user: Callable[..., tuple[str, str]],
        make_app: Callable[[], dict[str, Any]],
        receiver: Receiver,
    ) -> None:
        email, _ = make_user("admin", admin=True)
        app = make_app()
        console.sign_in(email)
        console.open(f"/console/apps/{app['uid']}/webhooks")
        console.see("No webhooks yet")
        console.click("Create Webhook")

        # The form's own checks and the service's both land beside their fields.
        console.fill("Name", "Orders")
        console.click("Save")
        console.see("There is a problem")
        error = console.find("#url-error")
        assert "Enter the URL endpoint" in error.text
        assert console.find("#url").get_attribute("aria-invalid") == "true"
        console.fill("URL endpoint", "ftp://example.com/hook")
        console.find("#ev-job\\.success").click()
        console.click("Save")
        assert "http" in console.find("#url-error").text.lower()
        assert console.find("#error-summary a[href='#url']")

        console.fill("URL endpoint", receiver.url + "/orders")
        console.click("Save")
        console.see("Webhook saved")
        console.see("None: requests carry no signature header")

        console.click("Send test event", navigates=False)
        (request,) = receiver.wait_for(1, path="/orders")
        assert request.json()["live"] is False
        assert "webhook-signature" not in request.headers
        console.see("Test event sent")
        console.see("HTTP 200")

        console.click("Edit")
        console.fill("Name", "Orders v2")
        console.find("#status-inactive").click()
        console.click("Save")
        console.see("Webhook saved")
        console.open(f"/console/apps/{app['uid']}/webhooks")
        console.see("Orders v2")
        row = console.find("table.webhooks tbody tr")
        assert "Inactive" in row.text
        assert "Succeeded (HTTP 200)" in row.text  # the test event was its last delivery

        console.click("Delete")
        console.see("This cannot be undone")
        console.click("Yes, delete it")
        console.see("deleted")
        console.see("No webhooks yet")


class TestFailedDelivery:
    def test_a_failed_delivery_shows_its_attempts_and_retry_sends_it_again(
        self,
        console: Console,
        api: httpx.Client,
        make_user: Callable[..., tuple[str, str]],
        make_app: Callable[[], dict[str, Any]],
        receiver: Receiver,
    ) -> None:
        email, _ = make_user("ops", admin=True)
        app = make_app()
        uid = app["uid"]
        r = api.post(
            f"/v1/apps/{uid}/webhooks",
            json={
                "name": "Billing",
                "url": receiver.url + "/billing",
                "events": ["job.success"],
                "headers": {"X-Api-Key": "very-secret-value"},
                "secret_headers": ["X-Api-Key"],
            },
        )
        assert r.status_code == 201, r.text
        webhook = r.json()
        receiver.script(*[Reply(status=500, body=b"boom")] * 4, path="/billing")
        r = api.post(f"/v1/apps/{uid}/events", json={"type": "job.success", "data": {"n": 1}})
        assert r.status_code == 202, r.text
        receiver.wait_for(4, path="/billing")

        console.sign_in(email)
        detail = f"/console/apps/{uid}/webhooks/{webhook['id']}"

        def failed_shown() -> bool:
            console.open(detail + "?status=failed")
            return "Failed (HTTP 500)" in console.text()

        eventually_sync(failed_shown, what="the failed delivery on the webhook's page")
        assert console.find("svg.chart rect.fail")
        console.find("table.deliveries a").click()
        console.see("Attempt 4")
        console.see("boom")
        headers = console.driver.find_element(By.CSS_SELECTOR, "table.headers").get_attribute(
            "textContent"
        )
        assert "very-secret-value" not in str(headers)
        assert "••••••" in str(headers)

        console.click("Retry")
        console.see("Delivery queued to be sent again")
        receiver.wait_for(5, path="/billing")

        def succeeded_shown() -> bool:
            console.driver.refresh()
            return "Succeeded (HTTP 200)" in console.text()

        eventually_sync(succeeded_shown, what="the retried delivery shown as succeeded")


class TestViewer:
    def test_a_viewer_sees_no_edit_buttons_and_a_forged_post_is_refused(
        self,
        console: Console,
        api: httpx.Client,
        hookd: HookdProcess,
        make_user: Callable[..., tuple[str, str]],
        make_app: Callable[[], dict[str, Any]],
        receiver: Receiver,
    ) -> None:
        app = make_app()
        uid = app["uid"]
        r = api.post(
            f"/v1/apps/{uid}/webhooks",
            json={"name": "Audit", "url": receiver.url + "/a", "events": ["job.start"]},
        )
        webhook = r.json()
        email, user_id = make_user("viewer")
        r = api.put(f"/v1/orgs/{DEFAULT_ORG_ID}/members/{user_id}", json={"role": "viewer"})
        assert r.status_code == 200, r.text
        r = api.put(f"/v1/apps/{uid}/members/{user_id}", json={"role": "viewer"})
        assert r.status_code == 200, r.text

        console.sign_in(email)
        console.open(f"/console/apps/{uid}/webhooks")
        console.see("Audit")
        for label in ("Create Webhook", "Edit", "Delete"):
            assert not console.has_button(label), label
        console.open(f"/console/apps/{uid}/webhooks/{webhook['id']}")
        console.see("Deliveries per hour")
        for label in ("Send test event", "Edit", "Delete", "Recover", "Rotate secret"):
            assert not console.has_button(label), label

        # The same browser session, with its valid CSRF token, posting what it has no button for.
        csrf = console.find("form[action='/console/logout'] input[name=csrf]").get_attribute(
            "value"
        )
        cookies = {c["name"]: c["value"] for c in console.driver.get_cookies()}
        with httpx.Client(base_url=hookd.url, cookies=cookies) as browser:
            r = browser.post(
                f"/console/apps/{uid}/webhooks/{webhook['id']}/delete", data={"csrf": csrf}
            )
            assert r.status_code == 403
            assert "You may not do this" in r.text
            r = browser.post(
                f"/console/apps/{uid}/webhooks/{webhook['id']}/test", data={"csrf": csrf}
            )
            assert r.status_code == 403
            # And without the token, even an allowed form is refused.
            r = browser.post("/console/logout", data={"csrf": "forged"})
            assert r.status_code == 403
        assert api.get(f"/v1/apps/{uid}/webhooks/{webhook['id']}").status_code == 200
        assert receiver.requests == []


class TestPortal:
    def test_a_portal_link_opens_one_app_then_expires_or_is_revoked(
        self,
        console: Console,
        api: httpx.Client,
        hookd: HookdProcess,
        make_app: Callable[[], dict[str, Any]],
    ) -> None:
        app, other = make_app(), make_app()
        r = api.post(
            f"/v1/apps/{app['uid']}/portal-links",
            json={"frame_origin": "https://saas.example.com"},
        )
        assert r.status_code == 201, r.text
        link = r.json()
        assert link["url"].startswith(hookd.url + "/console/portal/hpl_")

        console.driver.get(link["url"])
        console.see("No webhooks yet")
        assert console.has_button("Create Webhook")  # owner rights in its app
        assert not console.has_button("Sign out")
        # Only that app: the portal session is not even sent to another app's pages.
        console.open(f"/console/apps/{other['id']}/webhooks")
        assert "/console/login" in console.driver.current_url

        with httpx.Client(base_url=hookd.url) as browser:
            r = browser.get(link["url"].removeprefix(hookd.url), follow_redirects=True)
            assert r.status_code == 200
            assert (
                "frame-ancestors https://saas.example.com" in r.headers["content-security-policy"]
            )
            assert (
                "frame-ancestors 'none'"
                in browser.get("/console/login").headers["content-security-policy"]
            )

        listed = api.get(f"/v1/apps/{app['uid']}/portal-links").json()
        assert [entry["id"] for entry in listed] == [link["id"]]
        assert "url" not in listed[0]
        assert api.delete(f"/v1/apps/{app['uid']}/portal-links/{link['id']}").status_code == 204
        console.open(f"/console/apps/{app['id']}/webhooks")
        console.see("Link expired")

        r = api.post(f"/v1/apps/{app['uid']}/portal-links", json={"expires_in": 2})
        short = r.json()
        console.driver.get(short["url"])
        console.see("No webhooks yet")

        def expired() -> bool:
            console.driver.refresh()
            return "Link expired" in console.text()

        eventually_sync(expired, timeout=10, interval=0.25, what="the portal link to expire")
        console.driver.get(short["url"])
        console.see("has expired or was revoked")

    def test_portal_links_are_refused_to_bad_input_and_to_viewers(
        self, api: httpx.Client, make_app: Callable[[], dict[str, Any]]
    ) -> None:
        app = make_app()
        r = api.post(f"/v1/apps/{app['uid']}/portal-links", json={"expires_in": 10**9})
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "expires_in"
        r = api.post(f"/v1/apps/{app['uid']}/portal-links", json={"frame_origin": "not an origin"})
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "frame_origin"
        r = api.post(f"/v1/apps/{app['uid']}/api-keys", json={"name": "ro", "role": "viewer"})
        assert r.status_code == 201, r.text
        viewer = {"Authorization": f"Bearer {r.json()['key']}"}
        r = api.post(f"/v1/apps/{app['uid']}/portal-links", headers=viewer)
        assert r.status_code == 403


class TestMembers:
    def test_an_owner_adds_changes_and_removes_members_of_an_app_and_an_org(
        self,
        console: Console,
        api: httpx.Client,
        make_user: Callable[..., tuple[str, str]],
        make_app: Callable[[], dict[str, Any]],
    ) -> None:
        admin, _ = make_user("root", admin=True)
        email, user_id = make_user("grace")
        app = make_app()
        console.sign_in(admin)
        console.open(f"/console/apps/{app['uid']}/members")
        console.fill("Email or user id", user_id)
        console.click("Add member")
        console.see("Member saved")
        console.see(email)
        assert api.get(f"/v1/apps/{app['uid']}/members").json()[0]["role"] == "owner"
        select = console.find(f"#role-{user_id}")
        select.send_keys("viewer")
        console.click("Change")
        console.see("Member saved")
        assert api.get(f"/v1/apps/{app['uid']}/members").json()[0]["role"] == "viewer"
        console.click("Remove")
        console.see("Member removed")
        assert api.get(f"/v1/apps/{app['uid']}/members").json() == []

        console.open(f"/console/orgs/{DEFAULT_ORG_ID}/members")
        console.fill("User id or email", email)
        console.find("#role").send_keys("member")
        console.click("Add member")
        console.see("Member saved")
        roles = {
            m["user"]["email"]: m["role"]
            for m in api.get(f"/v1/orgs/{DEFAULT_ORG_ID}/members").json()
        }
        assert roles[email] == "member"


class TestAccessibility:
    def test_every_input_on_every_page_has_a_label_and_the_keyboard_reaches_save(
        self,
        console: Console,
        api: httpx.Client,
        make_user: Callable[..., tuple[str, str]],
        make_app: Callable[[], dict[str, Any]],
        receiver: Receiver,
    ) -> None:
        email, _ = make_user("a11y", admin=True)
        app = make_app()
        uid = app["uid"]
        webhook = api.post(
            f"/v1/apps/{uid}/webhooks",
            json={"name": "A", "url": receiver.url + "/a", "events": ["job.start"]},
        ).json()
        console.sign_in(email)
        for path in (
            "/webhooks",
            "/webhooks/new",
            f"/webhooks/{webhook['id']}",
            f"/webhooks/{webhook['id']}/edit",
            "/event-types",
            "/members",
        ):
            console.open(f"/console/apps/{uid}{path}")
            unlabelled = console.driver.execute_script(
                """
                return [...document.querySelectorAll('input, select, textarea')]
                  .filter(e => e.type !== 'hidden')
                  .filter(e => !(e.id && document.querySelector(`label[for="${e.id}"]`)))
                  .map(e => e.name || e.outerHTML);
                """
            )
            assert unlabelled == [], path
        console.open(f"/console/apps/{uid}/webhooks/new")
        console.find("#name").click()
        active = console.driver.switch_to.active_element
        for _ in range(40):
            if active.text == "Save":
                break
            active.send_keys(Keys.TAB)
            active = console.driver.switch_to.active_element
        assert active.text == "Save", "Tab never reached the Save button"


class TestCatalogAndSecrets:
    def test_add_an_event_type_rotate_a_secret_and_recover_failed_deliveries(
        self,
        console: Console,
        api: httpx.Client,
        make_user: Callable[..., tuple[str, str]],
        make_app: Callable[[], dict[str, Any]],
        receiver: Receiver,
    ) -> None:
        email, _ = make_user("owner", admin=True)
        app = make_app()
        uid = app["uid"]
        console.sign_in(email)
        console.open(f"/console/apps/{uid}/event-types")
        console.see("Deployment events")
        console.fill("Name", "invoice.paid")
        console.fill("Group", "Billing events")
        console.fill("Sample payload", "{not json")
        console.click("Add event type")
        console.see("There is a problem")
        assert "Enter the sample as JSON" in console.find(".has-error .field-error").text
        console.fill("Sample payload", '{"amount": 42}')
        console.click("Add event type")
        console.see("Event type added")
        console.see("Billing events")
        assert api.get(f"/v1/apps/{uid}/event-types/invoice.paid").json()["sample"] == {
            "amount": 42
        }

        r = api.post(
            f"/v1/apps/{uid}/webhooks",
            json={"name": "Pay", "url": receiver.url + "/pay", "events": ["invoice.paid"]},
        )
        webhook = r.json()
        console.open(f"/console/apps/{uid}/webhooks/{webhook['id']}")
        console.click("Rotate secret")
        console.see("it is shown once")
        new_secret = console.find("#new-secret").get_attribute("value")
        assert new_secret and new_secret.startswith("whsec_")
        assert new_secret != webhook["secret"]

        receiver.script(*[Reply(status=500)] * 4, path="/pay")
        api.post(f"/v1/apps/{uid}/events", json={"type": "invoice.paid", "data": {}})
        receiver.wait_for(4, path="/pay")

        def failed() -> bool:
            r = api.get(f"/v1/apps/{uid}/deliveries", params={"status": "failed"})
            return bool(r.json()["data"])

        eventually_sync(failed, what="the delivery to fail")
        console.open(f"/console/apps/{uid}/webhooks/{webhook['id']}")
        console.click("Recover")
        console.see("1 failed delivery queued to be sent again")
        (*_, again) = receiver.wait_for(5, path="/pay")
        assert again.json()["data"] == {}
