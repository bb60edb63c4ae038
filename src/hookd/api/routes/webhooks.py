"""Webhooks: create, read, change, delete; test, preview, rotate and read the secret."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query

from hookd.api.deps import AppDep, ChangeAppDep, RuntimeDep
from hookd.api.schemas import (
    DeliveryDetailOut,
    DraftPreviewIn,
    PageOut,
    PreviewIn,
    PreviewOut,
    PublicKeyOut,
    RotateIn,
    SecretOut,
    TestIn,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
    public_key_of,
)
from hookd.domain import signing
from hookd.domain.models import App, Webhook
from hookd.errors import NotFound
from hookd.runtime import Runtime

router = APIRouter(prefix="/v1/apps/{app}/webhooks", tags=["webhooks"])

Limit = Annotated[int, Query(ge=1, le=250, description="Page size.")]


@router.post("", status_code=201)
async def create_webhook(body: WebhookIn, app: ChangeAppDep, rt: RuntimeDep) -> WebhookCreated:
    wh = await rt.webhooks.create(app, body.fields())
    return WebhookCreated(**WebhookOut.of(wh).model_dump(), secret=wh.secret)


@router.post("/preview")
async def preview_draft(body: DraftPreviewIn, app: AppDep, rt: RuntimeDep) -> PreviewOut:
    """Render the request an unsaved webhook would send (nothing is stored or sent)."""
    webhook = await rt.webhooks.draft(app, body.webhook.fields())
    return await _preview(rt, app, webhook, body)


@router.get("")
async def list_webhooks(
    app: AppDep,
    rt: RuntimeDep,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
    enabled: bool | None = None,
) -> PageOut[WebhookOut]:
    page = await rt.webhooks.page(app, limit=limit, after=cursor, enabled=enabled)
    return PageOut(data=[WebhookOut.of(w) for w in page.items], next_cursor=page.next_cursor)


@router.get("/{webhook_id}")
async def get_webhook(webhook_id: str, app: AppDep, rt: RuntimeDep) -> WebhookOut:
    return WebhookOut.of(await rt.webhooks.get(app, webhook_id))


@router.get("/{webhook_id}/secret")
async def get_secret(webhook_id: str, app: ChangeAppDep, rt: RuntimeDep) -> SecretOut:
    return SecretOut(secret=(await rt.webhooks.get(app, webhook_id)).secret)


@router.get("/{webhook_id}/public-key")
async def get_public_key(webhook_id: str, app: AppDep, rt: RuntimeDep) -> PublicKeyOut:
    """The ed25519 public keys receivers verify `v1a` signatures with (404 for HMAC schemes)."""
    webhook = await rt.webhooks.get(app, webhook_id)
    current = public_key_of(webhook)
    if current is None:
        raise NotFound(f"webhook {webhook_id!r} does not sign with ed25519")
    valid = [signing.public_key(s) for s in webhook.signing_secrets(time.time())]
    return PublicKeyOut(public_key=current, valid=valid)


@router.post("/{webhook_id}/rotate-secret")
async def rotate_secret(
    webhook_id: str, app: ChangeAppDep, rt: RuntimeDep, body: RotateIn | None = None
) -> SecretOut:
    """Issue a new secret; the old one keeps signing beside it for the grace period."""
    wanted = body or RotateIn()
    webhook = await rt.webhooks.rotate_secret(
        app, webhook_id, secret=wanted.secret, grace_seconds=wanted.grace_seconds
    )
    return SecretOut(secret=webhook.secret)


@router.post("/{webhook_id}/preview")
async def preview(
    webhook_id: str, app: AppDep, rt: RuntimeDep, body: PreviewIn | None = None
) -> PreviewOut:
    """Render the exact request this webhook would send for an event (secrets masked)."""
    webhook = await rt.webhooks.get(app, webhook_id)
    return await _preview(rt, app, webhook, body or PreviewIn())


async def _preview(rt: Runtime, app: App, webhook: Webhook, body: PreviewIn) -> PreviewOut:
    shown = await rt.previews.render(
        app, webhook, event_id=body.event_id, event_type=body.event_type, data=body.data
    )
    return PreviewOut(method=shown.method, url=shown.url, headers=shown.headers, body=shown.body)


@router.patch("/{webhook_id}")
async def update_webhook(
    webhook_id: str, body: WebhookPatch, app: ChangeAppDep, rt: RuntimeDep
) -> WebhookOut:
    return WebhookOut.of(await rt.webhooks.update(app, webhook_id, body.fields()))


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, app: ChangeAppDep, rt: RuntimeDep) -> None:
    await rt.webhooks.delete(app, webhook_id)


@router.post("/{webhook_id}/test")
async def test_webhook(
    webhook_id: str, app: ChangeAppDep, rt: RuntimeDep, body: TestIn | None = None
) -> DeliveryDetailOut:
    """Send the event type's sample now with `live: false`; works while disabled."""
    wh = await rt.webhooks.get(app, webhook_id)
    detail = await rt.deliveries.test(app, wh, body.event_type if body else None)
    return DeliveryDetailOut.of_detail(detail)
