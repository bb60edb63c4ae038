"""Deliveries and their attempts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hookd.api.deps import AppDep, ChangeAppDep, RuntimeDep
from hookd.api.schemas import DeliveryDetailOut, DeliveryOut, PageOut

router = APIRouter(prefix="/v1/apps/{app}/deliveries", tags=["deliveries"])


@router.get("")
async def list_deliveries(
    app: AppDep,
    rt: RuntimeDep,
    webhook: str | None = None,
    event: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=250)] = 50,
    cursor: str | None = None,
) -> PageOut[DeliveryOut]:
    """List deliveries, newest first."""
    page = await rt.deliveries.page(
        app, limit=limit, before=cursor, webhook_id=webhook, event_id=event, status=status
    )
    return PageOut(data=[DeliveryOut.of(d) for d in page.items], next_cursor=page.next_cursor)


@router.get("/{delivery_id}")
async def get_delivery(delivery_id: str, app: AppDep, rt: RuntimeDep) -> DeliveryDetailOut:
    return DeliveryDetailOut.of_detail(await rt.deliveries.get(app, delivery_id))


@router.post("/{delivery_id}/retry", status_code=202)
async def retry_delivery(delivery_id: str, app: ChangeAppDep, rt: RuntimeDep) -> DeliveryDetailOut:
    """Deliver again now."""
    return DeliveryDetailOut.of_detail(await rt.deliveries.retry(app, delivery_id))
