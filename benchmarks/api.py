"""hookd's HTTP API as the benchmarks use it: set-up calls and prepared publish requests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

from benchmarks.stack import ADMIN_KEY

APP = "default"
JSON = {"Content-Type": "application/json"}


def event_data(i: int) -> dict[str, Any]:
    """Return the data of the i-th benchmark event: small, like a typical job event."""
    return {"job": {"id": i, "title": f"Nightly build {i}", "status": "success"}, "seq": i}


class HookdApi:
    """Admin calls on one hookd API."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base = f"{base_url}/v1/apps/{APP}"
        self.headers = {"Authorization": f"Bearer {ADMIN_KEY}", **JSON}

    async def _post(self, path: str, body: Any, ok: Sequence[int] = (200, 201, 202)) -> Any:
        async with self.session.post(
            self.base + path, data=orjson.dumps(body), headers=self.headers
        ) as response:
            payload = await response.read()
            if response.status not in ok:
                raise RuntimeError(f"POST {path} -> {response.status}: {payload[:500]!r}")
            return orjson.loads(payload) if payload else None

    async def event_type(self, name: str) -> None:
        await self._post("/event-types", {"name": name, "group": "bench"}, ok=(201, 409))

    async def webhook(self, url: str, events: list[str]) -> str:
        """Create a signed webhook (a secret is generated) and return its id."""
        created = await self._post("/webhooks", {"url": url, "events": events})
        webhook_id: str = created["id"]
        return webhook_id

    async def webhooks(self, urls: Sequence[str], events: Sequence[list[str]]) -> list[str]:
        """Create many webhooks, the event types they name first."""
        for name in sorted({e for names in events for e in names if "*" not in e}):
            await self.event_type(name)
        return [
            await self.webhook(url, list(names)) for url, names in zip(urls, events, strict=True)
        ]

    async def one_per_type(self, base_url: str, types: Sequence[str]) -> list[str]:
        """Create webhook i at `base_url/hook/i`, subscribed to `types[i]` alone."""
        return await self.webhooks(
            [f"{base_url}/hook/{i}" for i in range(len(types))], [[t] for t in types]
        )

    async def settled(self, event_id: str) -> bool:
        """Tell whether every delivery of an event has its attempt recorded."""
        for status in ("pending", "sending"):
            async with self.session.get(
                self.base + "/deliveries",
                params={"event": event_id, "status": status, "limit": "1"},
                headers=self.headers,
            ) as response:
                page = orjson.loads(await response.read())
                if response.status != 200:
                    raise RuntimeError(f"GET /deliveries -> {response.status}: {page}")
                if page["data"]:
                    return False
        return True

    async def publish(self, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        published: dict[str, Any] = await self._post("/events", {"type": event_type, "data": data})
        return published

    async def publish_batch(self, items: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """Publish events in one call; return how many deliveries they made."""
        body = {"events": [{"type": t, "data": d} for t, d in items]}
        answer = await self._post("/events/batch", body)
        return sum(int(p["deliveries"]) for p in answer["data"])

    async def prepublish(
        self, count: int, types: Sequence[str], *, per_call: int = 1000, start: int = 0
    ) -> int:
        """Publish `count` events round-robin over `types` in batches; return deliveries made."""
        made = 0
        for first in range(start, start + count, per_call):
            last = min(first + per_call, start + count)
            made += await self.publish_batch(
                [(types[i % len(types)], event_data(i)) for i in range(first, last)]
            )
        return made
