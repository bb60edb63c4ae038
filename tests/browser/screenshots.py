"""Take the console's screenshots for the README: `make screenshots` (writes docs/img/).

Starts hookd on a throwaway SQLite database, fills it through the API, and
photographs the main pages in Debian's headless Chromium at a laptop and a
phone width.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.browser.conftest import PASSWORD, Console, new_browser
from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver, Reply
from tests.support.server import HookdProcess

OUT = Path(__file__).resolve().parents[2] / "docs" / "img"
SIZES = {"": (1280, 860), "-phone": (390, 844)}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, Receiver() as rx:
        work = Path(tmp)
        with HookdProcess(f"sqlite:///{work / 'hookd.db'}", work) as hookd, hookd.client() as api:
            api.post(
                "/v1/users",
                json={
                    "email": "ada@example.com",
                    "name": "Ada",
                    "password": PASSWORD,
                    "admin": True,
                },
            ).raise_for_status()
            api.post("/v1/apps", json={"uid": "shop", "name": "Shop"}).raise_for_status()
            for name, group, text in (
                ("order.created", "Order events", "A customer placed an order"),
                ("order.shipped", "Order events", "An order left the warehouse"),
                ("invoice.paid", "Billing events", "An invoice was paid"),
            ):
                api.post(
                    "/v1/apps/shop/event-types",
                    json={"name": name, "group": group, "description": text},
                ).raise_for_status()
            for size, (width, height) in SIZES.items():
                driver = new_browser(width, height)
                try:
                    console = Console(driver, hookd.url)
                    console.sign_in("ada@example.com")
                    console.open("/console/apps/shop/webhooks")
                    console.see("No webhooks yet")
                    driver.save_screenshot(str(OUT / f"console-empty{size}.png"))
                    console.open("/console/apps/shop/webhooks/new")
                    console.fill("Name", "Warehouse")
                    console.fill("URL endpoint", "ftp://warehouse.example.com/hooks")
                    console.find("#ev-order\\.created").click()
                    console.click("Save")
                    console.see("There is a problem")
                    driver.save_screenshot(str(OUT / f"console-form-error{size}.png"))
                finally:
                    driver.quit()

            hooks = []
            for name, path, events in (
                ("Warehouse", "/warehouse", ["order.*"]),
                ("Accounting", "/accounting", ["invoice.paid"]),
                ("Analytics", "/analytics", ["*"]),
            ):
                r = api.post(
                    "/v1/apps/shop/webhooks",
                    json={"name": name, "url": rx.url + path, "events": events},
                )
                r.raise_for_status()
                hooks.append(r.json())
            rx.set_handler(
                lambda req: (
                    Reply(status=503, body=b'{"error": "maintenance"}')
                    if req.route == "/accounting"
                    else Reply(status=200, body=b'{"ok": true}')
                )
            )
            for n in range(6):
                for kind in ("order.created", "invoice.paid"):
                    api.post(
                        "/v1/apps/shop/events", json={"type": kind, "data": {"n": n}}
                    ).raise_for_status()
            rx.wait_for(12, path="/analytics")

            def settled() -> bool:
                page = api.get("/v1/apps/shop/deliveries", params={"status": "failed"})
                return len(page.json()["data"]) >= 2

            eventually_sync(settled, what="the accounting deliveries to fail")
            failed = api.get(
                "/v1/apps/shop/deliveries", params={"status": "failed", "webhook": hooks[1]["id"]}
            ).json()["data"][0]
            for size, (width, height) in SIZES.items():
                driver = new_browser(width, height)
                try:
                    console = Console(driver, hookd.url)
                    console.sign_in("ada@example.com")
                    console.open("/console/apps/shop/webhooks")
                    console.see("Accounting")
                    driver.save_screenshot(str(OUT / f"console-webhooks{size}.png"))
                    console.open(f"/console/apps/shop/webhooks/{hooks[1]['id']}")
                    console.see("Deliveries per hour")
                    driver.save_screenshot(str(OUT / f"console-webhook{size}.png"))
                    console.open(f"/console/apps/shop/deliveries/{failed['id']}")
                    console.see("Attempt log")
                    driver.save_screenshot(str(OUT / f"console-delivery{size}.png"))
                finally:
                    driver.quit()
    for png in sorted(OUT.glob("console-*.png")):
        print(png.relative_to(OUT.parents[1]))


if __name__ == "__main__":
    main()
