"""Batch delivery: flush a queued webhook's waiting events now."""

from __future__ import annotations

from fastapi import APIRouter

from hookd.api.deps import ChangeAppDep, RuntimeDep
from hookd.api.schemas import FlushedBatchOut, FlushOut
from hookd.delivery.batching import flush_webhook

router = APIRouter(prefix="/v1/apps/{app}/webhooks", tags=["webhooks"])


@router.post("/{webhook_id}/flush", status_code=202)
async def flush(webhook_id: str, app: ChangeAppDep, rt: RuntimeDep) -> FlushOut:
    """Send what waits in the webhook's queue now, as batches of up to `batch_max_events`.

    Answers with the batch deliveries made; the worker sends them.
    """
    webhook = await rt.webhooks.get(app, webhook_id)
    flushed = await flush_webhook(rt.store, webhook.id)
    return FlushOut(
        batches=[FlushedBatchOut(id=b.id, events=len(b.event_ids)) for b in flushed.batches],
        events=flushed.events,
    )
