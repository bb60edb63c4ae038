"""Wait for deliveries to settle, and read what happened to them, through the store."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

from hookd.domain.models import FINISHED, Delivery, DeliveryStatus, Webhook
from hookd.store import Store
from hookd.store.records import DeliveryDetail
from tests.support.polling import eventually


async def settled(
    store: Store,
    app_id: str,
    event_id: str,
    status: DeliveryStatus | None = None,
    *,
    attempts: int | None = None,
    timeout: float = 15.0,
) -> DeliveryDetail:
    """Wait until the event's (one) delivery is finished, or has `status` and `attempts`."""

    async def check() -> DeliveryDetail | None:
        page = await store.deliveries.page(app_id, limit=2, event_id=event_id)
        if not page.items:
            return None
        [delivery] = page.items
        wanted = delivery.status is status if status else delivery.status in FINISHED
        if not wanted or (attempts is not None and delivery.attempts < attempts):
            return None
        return await store.deliveries.get(app_id, delivery.id)

    what = f"the delivery of {event_id} to be {status.value if status else 'finished'}"
    return await eventually(check, timeout=timeout, what=what)


async def deliveries_of(store: Store, app_id: str, webhook_id: str) -> list[Delivery]:
    """Return the webhook's deliveries, oldest first."""
    page = await store.deliveries.page(app_id, limit=250, webhook_id=webhook_id)
    return sorted(page.items, key=lambda d: d.id)


async def webhook_now(store: Store, webhook: Webhook) -> Webhook:
    """Return the webhook as stored now."""
    found = await store.webhooks.get(webhook.app_id, webhook.id)
    assert found is not None
    return found


def self_signed(folder: Path) -> ssl.SSLContext:
    """Make a self-signed certificate for 127.0.0.1 with openssl; return a server context."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
