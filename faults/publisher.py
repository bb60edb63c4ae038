"""The producer of a fault scenario: events at a steady rate, retried until hookd says 202.

Event i is due at start + i/rate and carries `Idempotency-Key: <run>-<i>`, so a
retry after a lost answer names the same event. A publish is retried after a
connection error or a 503 (after its Retry-After, at most 2 s) until the
deadline; one that never got a 202 is not *accepted* and owed nothing.
Every loop is bounded by the count and the deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
import orjson
from benchmarks.stack import ADMIN_KEY

EVENT_TYPE = "fault.tick"
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}


@dataclass
class Published:
    accepted: dict[str, float] = field(default_factory=dict)  # event id -> when the 202 came
    unavailable: int = 0  # 503 JSON database_unavailable with Retry-After
    answers: Counter[str] = field(default_factory=Counter)  # every other non-202, by kind
    given_up: int = 0  # events that never got their 202 before the deadline

    @property
    def last_accept(self) -> float:
        return max(self.accepted.values(), default=0.0)


async def publish(
    session: aiohttp.ClientSession,
    base_url: str,
    *,
    run: str,
    rate: float,
    seconds: float,
    grace: float = 60.0,
    lanes: int = 32,
) -> Published:
    """Publish `rate * seconds` events; keep retrying each until `seconds + grace` pass."""
    total = max(1, int(rate * seconds))
    out = Published()
    counter = itertools.count()
    start = time.monotonic() + 0.05
    deadline = start + seconds + grace
    url = f"{base_url}/v1/apps/default/events"
    timeout = aiohttp.ClientTimeout(total=10)

    async def one(i: int) -> None:
        body = orjson.dumps({"type": EVENT_TYPE, "data": {"seq": i}})
        headers = {**HEADERS, "Idempotency-Key": f"{run}-{i}"}
        while time.monotonic() < deadline:
            pause = 0.1
            try:
                async with session.post(url, data=body, headers=headers, timeout=timeout) as r:
                    payload = await r.read()
                    if r.status == 202:
                        out.accepted[orjson.loads(payload)["id"]] = time.time()
                        return
                    pause = _refused(out, r.status, r.headers, payload)
            except (aiohttp.ClientError, TimeoutError) as exc:
                out.answers[type(exc).__name__] += 1
            await asyncio.sleep(pause)
        out.given_up += 1

    async def lane() -> None:
        while (i := next(counter)) < total:
            due = start + i / rate
            if due >= deadline:
                out.given_up += 1
                continue
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await one(i)

    await asyncio.gather(*(lane() for _ in range(lanes)))
    return out


def _refused(out: Published, status: int, headers: Mapping[str, str], payload: bytes) -> float:
    """Count a non-202 answer; return how long to wait before trying again."""
    retry_after = headers.get("Retry-After")
    code = ""
    try:
        code = str(orjson.loads(payload)["error"]["code"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        code = "not JSON"
    if status == 503 and code == "database_unavailable" and retry_after:
        out.unavailable += 1
        return min(float(retry_after), 2.0)
    out.answers[f"{status} {code}"] += 1
    return 0.2
