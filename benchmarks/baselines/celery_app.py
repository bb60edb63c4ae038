"""The usual Python alternative: a Celery task on a Redis broker, sending with requests.

This is how django-webhook and most in-house systems deliver: one task per
delivery, retried by Celery on a network error or an error status. Results are
ignored and nothing is persisted, and each pool process reuses one
`requests.Session` (keep-alive), which is kinder to Celery than `requests.post`.

    BENCH_REDIS_URL=redis://127.0.0.1:P/0 celery -A benchmarks.baselines.celery_app worker
"""

from __future__ import annotations

import os

import requests
from celery import Celery

app = Celery("hookd-bench", broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_session: requests.Session | None = None


def session() -> requests.Session:
    global _session
    if _session is None:
        _session = requests.Session()
    return _session


@app.task(
    name="deliver",
    autoretry_for=(requests.RequestException,),
    retry_backoff=True,
    max_retries=5,
)
def deliver(url: str, body: str, headers: dict[str, str]) -> None:
    """POST one webhook request; an error status or a network error retries."""
    response = session().post(url, data=body.encode(), headers=headers, timeout=15)
    response.raise_for_status()
