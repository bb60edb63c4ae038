"""`hookd serve` delivering with more than one process (HOOKD_DELIVERY_PROCESSES)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from tests.acceptance.conftest import create_webhook
from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver, Reply
from tests.support.server import HookdProcess


def children_of(pid: int) -> list[int]:
    return [
        int(k)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for k in (task / "children").read_text().split()
    ]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def attempts_made_by(api_metrics: str) -> float:
    found = re.findall(
        r'^hookd_attempts_total\{outcome="succeeded"\} ([0-9.e+]+)$', api_metrics, re.M
    )
    return float(found[0]) if found else 0.0


class TestDeliveryProcesses:
    def test_two_processes_share_the_work_exactly_once_and_the_child_dies_with_serve(
        self, hookd_factory: Callable[..., HookdProcess], receiver: Receiver
    ) -> None:
        receiver.default = Reply(200, delay=0.05)
        hookd = hookd_factory(delivery_processes=2).start()
        assert hookd.proc is not None
        [child] = eventually_sync(
            lambda: children_of(hookd.proc.pid) or None, timeout=20, what="a delivery child"
        )
        with hookd.client() as api:
            for i in range(3):
                create_webhook(api, f"{receiver.url}/w{i}")
            events = [{"type": "job.success", "data": {"n": n}} for n in range(100)]
            for _ in range(2):
                r = api.post("/v1/apps/default/events/batch", json={"events": events})
                assert r.status_code == 202, r.text
            receiver.wait_for(600, timeout=60)
            parent_share = attempts_made_by(api.get("/metrics").text)
        got = [(r.route, r.headers["webhook-id"]) for r in receiver.received()]
        assert len(got) == 600 and len(set(got)) == 600  # each delivery once
        assert 0 < parent_share < 600  # the child delivered the rest

        hookd.kill()  # SIGKILL: no chance to stop its child
        eventually_sync(lambda: not alive(child), timeout=20, what="the child to exit")
