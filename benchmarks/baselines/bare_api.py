"""The ingest limit: hookd's publish routes with the same pydantic models and no storage.

    python -m benchmarks.baselines.bare_api --port P

Served by uvicorn exactly as `hookd serve` serves hookd (uvloop, httptools, no
access log); answers what hookd answers, with no auth, no database.
"""

from __future__ import annotations

import argparse
import time

import uvicorn
from fastapi import FastAPI

from hookd import ids
from hookd.api.schemas import EventBatchIn, EventIn, PublishedOut
from hookd.domain.envelope import rfc3339

app = FastAPI(title="bare")


def _published(body: EventIn, now: float) -> PublishedOut:
    return PublishedOut(
        id=ids.new_id("evt", now), type=body.type, timestamp=rfc3339(now), deliveries=1
    )


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/apps/{app_ref}/events", status_code=202)
async def publish(app_ref: str, body: EventIn) -> PublishedOut:
    return _published(body, time.time())


@app.post("/v1/apps/{app_ref}/events/batch", status_code=202)
async def publish_batch(app_ref: str, body: EventBatchIn) -> dict[str, list[PublishedOut]]:
    now = time.time()
    return {"data": [_published(e, now) for e in body.events]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
