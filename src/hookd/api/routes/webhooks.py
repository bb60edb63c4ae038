"""Webhooks: create, read, change, delete, test, and read the secret."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hookd.api.deps import AppDep, RuntimeDep
from hookd.api.schemas import (
    DeliveryDetailOut,
    PageOut,
    SecretOut,
    TestIn,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)

router = APIRouter(prefix="/v1/apps/{app}/webhooks", tags=["webhooks"])

Limit = Annotated[int, Query(ge=1, le=250, description="Page size.")]


@router.post("", status_code=201)
async def create_webhook(body: WebhookIn, app: AppDep, rt: RuntimeDep) -> WebhookCreated:
    wh = await rt.webhooks.create(app, body.fields())
    return WebhookCreated(**WebhookOut.of(wh).model_dump(), secret=wh.secret)


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
async def get_secret(webhook_id: str, app: AppDep, rt: RuntimeDep) -> SecretOut:
    return SecretOut(secret=(await rt.webhooks.get(app, webhook_id)).secret)


@router.patch("/{webhook_id}")
async def update_webhook(
    webhook_id: str, body: WebhookPatch, app: AppDep, rt: RuntimeDep
) -> WebhookOut:
    return WebhookOut.of(await rt.webhooks.update(app, webhook_id, body.fields()))


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, app: AppDep, rt: RuntimeDep) -> None:
    await rt.webhooks.delete(app, webhook_id)


@router.post("/{webhook_id}/test")
async def test_webhook(
    webhook_id: str, app: AppDep, rt: RuntimeDep, body: TestIn | None = None
) -> DeliveryDetailOut:
    """Send the event type's sample now with `live: false`; works while disabled."""
    wh = await rt.webhooks.get(app, webhook_id)
    detail = await rt.deliveries.test(app, wh, body.event_type if body else None)
    return DeliveryDetailOut.of_detail(detail)
