"""Liveness (`/healthz`), readiness (`/readyz`) and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hookd.api.deps import RuntimeDep
from hookd.metrics import DATABASE_ERRORS, DELIVERIES_PENDING
from hookd.outage import OUTAGE, unavailable
from hookd.store.ping import ping

router = APIRouter(tags=["operations"])

READY_TIMEOUT = 2.0  # seconds the database has to answer /readyz's SELECT 1


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Answer 200 while the process serves (liveness: restart it when this fails)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(rt: RuntimeDep) -> JSONResponse:
    """Answer 200 when the database answers (and the delivery worker claims), else 503."""
    checks: dict[str, Any] = {}
    try:
        await ping(rt.store.engines, timeout=READY_TIMEOUT)
    except Exception as exc:
        if not unavailable(exc):
            raise
        DATABASE_ERRORS.labels("readyz").inc()
        OUTAGE.failed("readyz", exc)
        checks["database"] = {"status": "down", "error": type(exc).__name__}
    else:
        OUTAGE.succeeded()
        checks["database"] = {"status": "up"}
    if rt.worker is not None:
        checks["worker"] = {"status": "up" if rt.worker.claiming else "down"}
    down = sorted(name for name, check in checks.items() if check["status"] != "up")
    if down:
        return JSONResponse(
            {"status": "unavailable", "down": down, "checks": checks},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/metrics")
async def metrics(rt: RuntimeDep) -> Response:
    DELIVERIES_PENDING.set(await rt.store.deliveries.count_pending())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
