"""kill -9 mid-delivery on a single SQLite node, then restart (issue #20 item 6, #21 item 2).

The restarted `hookd serve` is the only possible holder of the dead process's
leases: it takes them over at start (the dead pid no longer runs on this host),
so every delivery is done within seconds, not after the lease (60 s here).
Only what was in flight at the kill arrives twice.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.conftest import create_event_type, create_webhook
from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver, Reply
from tests.support.server import HookdProcess

EVENTS = 40
MAX_IN_FLIGHT = 8
KEYS = 4  # the fifo case's lines


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        rx.default = Reply(200, delay=0.3)  # so requests are in flight at the kill
        yield rx


def serve(db_url: str, workdir: Path) -> HookdProcess:
    # The lease is the default's 60 s: without the takeover, the test would wait it out.
    return HookdProcess(db_url, workdir, lease_seconds=60, delivery_processes=1)


def statuses(process: HookdProcess) -> collections.Counter[str]:
    with process.client() as api:
        r = api.get("/v1/apps/default/deliveries", params={"limit": 100})
        assert r.status_code == 200, r.text
        return collections.Counter(d["status"] for d in r.json()["data"])


@pytest.mark.parametrize("fifo", [False, True], ids=["unordered", "fifo"])
def test_kill_9_then_restart_finishes_every_delivery_within_10_s(
    tmp_path: Path, receiver: Receiver, fifo: bool
) -> None:
    db_url = f"sqlite:///{tmp_path / 'hookd.db'}"
    first = serve(db_url, tmp_path).start()
    try:
        with first.client() as api:
            create_event_type(api, "job.success")
            ordered = {"ordering": "fifo", "ordering_key": "${key}"} if fifo else {}
            create_webhook(
                api,
                receiver.url + "/hook",
                events=["job.success"],
                max_in_flight=MAX_IN_FLIGHT,
                **ordered,
            )
            events = [
                {"type": "job.success", "data": {"n": n, "key": n % KEYS}} for n in range(EVENTS)
            ]
            r = api.post("/v1/apps/default/events/batch", json={"events": events})
            assert r.status_code == 202, r.text
        receiver.wait_for(KEYS + 2 if fifo else MAX_IN_FLIGHT + 2, timeout=30)
    finally:
        first.kill()  # SIGKILL: nothing released, nothing recorded
    assert statuses_in_db(tmp_path)["sending"] > 0, "nothing was in flight at the kill"

    second = serve(db_url, tmp_path)
    second.start()
    restarted = time.monotonic()
    try:
        eventually_sync(
            lambda: statuses(second) == {"succeeded": EVENTS},
            timeout=10,
            interval=0.2,
            what=f"all {EVENTS} deliveries to succeed within 10 s of the restart",
        )
        took = time.monotonic() - restarted
        arrivals = collections.Counter(r.headers["webhook-id"] for r in receiver.received())
        assert len(arrivals) == EVENTS
        twice = [n for n in arrivals.values() if n > 1]
        # Only what the killed process had in flight arrives again, once more.
        assert len(twice) <= MAX_IN_FLIGHT and set(twice) <= {2}
        assert "took over" in second.output()
        if fifo:  # each line in order across the kill; a resent head right after itself
            lines: dict[int, list[int]] = collections.defaultdict(list)
            for request in receiver.received():
                data = request.json()["data"]
                if not lines[data["key"]] or lines[data["key"]][-1] != data["n"]:
                    lines[data["key"]].append(data["n"])
            assert all(arrived == list(range(k, EVENTS, KEYS)) for k, arrived in lines.items())
        print(f"\nall done {took:.1f} s after the restart; {len(twice)} arrived twice")
    finally:
        second.stop()


def statuses_in_db(workdir: Path) -> collections.Counter[str]:
    with sqlite3.connect(workdir / "hookd.db") as db:
        return collections.Counter(
            {
                status: n
                for status, n in db.execute("SELECT status, count(*) FROM deliveries GROUP BY 1")
            }
        )
