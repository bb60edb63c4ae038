"""Liveness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hookd.api.deps import RuntimeDep
from hookd.metrics import DELIVERIES_PENDING

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics")
async def metrics(rt: RuntimeDep) -> Response:
    DELIVERIES_PENDING.set(await rt.store.deliveries.count_pending())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
