"""Recovery: send a webhook's failed deliveries again; cancel a delivery that waits."""

from __future__ import annotations

import time

from fastapi import APIRouter

from hookd.api.deps import ChangeAppDep, RuntimeDep
from hookd.api.schemas import DeliveryDetailOut, RecoverIn, RecoverOut
from hookd.domain.envelope import rfc3339
from hookd.service.recovery import RecoveryService, Window

router = APIRouter(prefix="/v1/apps/{app}", tags=["recovery"])


@router.post("/webhooks/{webhook_id}/recover", status_code=202)
async def recover_webhook(
    webhook_id: str, body: RecoverIn, app: ChangeAppDep, rt: RuntimeDep
) -> RecoverOut:
    """Send again the webhook's failed deliveries created in [since, until)."""
    until = body.until.timestamp() if body.until is not None else None
    window = Window(body.since.timestamp(), until, now=time.time())
    count = await RecoveryService(rt.store).recover(app, webhook_id, window)
    return RecoverOut(
        webhook_id=webhook_id,
        since=rfc3339(window.since),
        until=rfc3339(window.until),
        recovered=count,
    )


@router.post("/deliveries/{delivery_id}/cancel")
async def cancel_delivery(delivery_id: str, app: ChangeAppDep, rt: RuntimeDep) -> DeliveryDetailOut:
    """Cancel a pending or queued delivery (409 when it is being sent or has finished)."""
    return DeliveryDetailOut.of_detail(await RecoveryService(rt.store).cancel(app, delivery_id))
