"""Queued batch delivery through real processes: `hookd flush` and `hookd serve`.

Runs on SQLite and PostgreSQL. The flush commands race for one queue; the
API test drives a queued webhook from publish to a verified batch request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson

from hookd.domain.models import DeliveryStatus
from hookd.store import Store
from hookd.store.records import NewEvent
from tests.acceptance.conftest import create_event_type, create_webhook
from tests.support.factories import everyone, make_webhook
from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver
from tests.support.server import HookdProcess

EVENTS = 2000
BATCH = 5
MADE = re.compile(r"made ([\d,]+) batch(?:es)? carrying ([\d,]+) events?")


def hookd_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HOOKD_")}


class TestConcurrentFlushCommands:
    async def test_two_hookd_flush_processes_put_each_event_in_exactly_one_batch(
        self, store: Store, db_url: str
    ) -> None:
        app = await store.apps.ensure_default(time.time())
        wh = await make_webhook(
            store, app.id, "http://127.0.0.1:9/", ("form.submit",), mode="queued"
        )
        await store.webhooks.update(app.id, wh.id, {"batch_max_events": BATCH}, time.time())
        published = await store.events.publish(
            app.id,
            [NewEvent("form.submit", orjson.dumps({"n": i}).decode()) for i in range(EVENTS)],
            everyone,
            now=time.time(),
            idempotency_window=86400,
        )
        event_ids = [p.event.id for p in published]

        flushes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "hookd",
                "flush",
                "--db",
                db_url,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=hookd_env(),
            )
            for _ in range(2)
        ]
        outputs = [(await p.communicate())[0].decode() for p in flushes]

        assert [p.returncode for p in flushes] == [0, 0], outputs
        # (batches, events) each made; measured, the two share the work (e.g. 190/210).
        made = [tuple(int(n.replace(",", "")) for n in MADE.findall(out)[-1]) for out in outputs]
        assert sum(events for _, events in made) == EVENTS, outputs

        # Every batch is in the store, none larger than batch_max_events, and
        # together they carry each event exactly once, in the order it was queued.
        batches = [d for d in await all_deliveries(store, app.id, wh.id) if d.kind == "batch"]
        assert len(batches) == sum(n for n, _ in made)
        position = {e: i for i, e in enumerate(event_ids)}
        carried: dict[str, list[str]] = {}
        for batch in batches:
            ids = [e.id for e in await store.batches.events(batch.id)]
            assert 0 < len(ids) <= BATCH
            assert ids == sorted(ids, key=position.__getitem__)
            carried[batch.id] = ids
        counts = Counter(e for ids in carried.values() for e in ids)
        assert set(counts) == set(event_ids) and set(counts.values()) == {1}
        # Each event's own delivery names the batch that carries it.
        for delivery in await all_deliveries(store, app.id, wh.id):
            if delivery.kind == "event":
                assert delivery.event_id in carried[delivery.batch_id or ""]
                assert delivery.status is DeliveryStatus.SENDING
        assert await store.batches.queued(webhook_id=wh.id) == {}


async def all_deliveries(store: Store, app_id: str, webhook_id: str) -> list[Any]:
    found: list[Any] = []
    cursor = None
    while True:
        page = await store.deliveries.page(app_id, limit=250, before=cursor, webhook_id=webhook_id)
        found.extend(page.items)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


class TestThroughTheApi:
    def test_queued_webhook_from_publish_to_flushed_batch(
        self, hookd: HookdProcess, api: httpx.Client, receiver: Receiver, tmp_path: Path
    ) -> None:
        secret = "mautic-style secret"
        create_event_type(api, "form.submit", sample={"form": {"id": 1}})
        create_event_type(api, "lead.update")
        wh = create_webhook(
            api,
            receiver.url + "/mautic",
            events=["form.submit", "lead.update"],
            mode="queued",
            batch_order="reverse",
            signing=["hmac-sha256-base64"],
            secret=secret,
        )
        items = [
            {"type": t, "data": {"n": i}}
            for i, t in enumerate(["form.submit"] * 2 + ["lead.update"] * 3)
        ]
        r = api.post("/v1/apps/default/events/batch", json={"events": items})
        assert r.status_code == 202, r.text
        event_ids = [p["id"] for p in r.json()["data"]]

        # Queued: visible, waiting, not sent.
        [waiting] = api.get("/v1/apps/default/deliveries", params={"event": event_ids[0]}).json()[
            "data"
        ]
        assert waiting["status"] == "queued" and waiting["batch_id"] is None

        r = api.post(f"/v1/apps/default/webhooks/{wh['id']}/flush")
        assert r.status_code == 202, r.text
        flushed = r.json()
        [made] = flushed["batches"]
        assert made["events"] == 5 and flushed["events"] == 5

        [request] = receiver.wait_for(1)
        assert request.path == "/mautic"
        assert request.body == orjson.dumps(
            {"lead.update": [{"n": 4}, {"n": 3}, {"n": 2}], "form.submit": [{"n": 1}, {"n": 0}]}
        )
        mac = hmac.new(secret.encode(), request.body, hashlib.sha256).digest()
        assert request.headers["webhook-signature"] == base64.b64encode(mac).decode()

        def settled(delivery_id: str) -> dict[str, Any] | None:
            body: dict[str, Any] = api.get(f"/v1/apps/default/deliveries/{delivery_id}").json()
            return body if body["status"] == "succeeded" else None

        batch = eventually_sync(lambda: settled(made["id"]), what="the batch to succeed")
        assert batch["kind"] == "batch" and batch["event_id"] is None
        assert [e["id"] for e in batch["events"]] == event_ids[::-1]
        assert [e["type"] for e in batch["events"]] == ["lead.update"] * 3 + ["form.submit"] * 2
        assert [a["response"]["status"] for a in batch["attempt_log"]] == [200]

        def carried() -> dict[str, Any] | None:
            [d] = api.get("/v1/apps/default/deliveries", params={"event": event_ids[0]}).json()[
                "data"
            ]
            return d if d["status"] == "succeeded" else None

        mine = eventually_sync(carried, what="the event's delivery to show the batch's outcome")
        assert mine["batch_id"] == made["id"]
        r = api.post(f"/v1/apps/default/deliveries/{mine['id']}/retry")
        assert r.status_code == 409 and made["id"] in r.json()["error"]["message"]

        # `hookd flush` (cron) on the same database: the running server sends the batch.
        r = api.post("/v1/apps/default/events", json={"type": "form.submit", "data": {"n": 5}})
        assert r.status_code == 202
        done = subprocess.run(
            [sys.executable, "-m", "hookd", "flush", "--webhook", wh["id"], "--db", hookd.db_url],
            capture_output=True,
            text=True,
            env=hookd_env(),
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "made 1 batch carrying 1 event for 1 webhook" in done.stdout
        _, second = receiver.wait_for(2)
        assert second.body == b'{"form.submit":[{"n":5}]}'

        # A test send takes the batch shape the receiver expects.
        r = api.post(f"/v1/apps/default/webhooks/{wh['id']}/test")
        assert r.status_code == 200, r.text
        _, _, test = receiver.wait_for(3)
        assert test.json() == {"form.submit": [{"form": {"id": 1}}]}

    def test_flush_command_names_what_is_unknown(self, db_url: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "hookd", "flush", "--webhook", "wh_nope", "--db", db_url],
            capture_output=True,
            text=True,
            env=hookd_env(),
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and "no webhook 'wh_nope'" in done.stdout
