"""`hookd serve` with nothing set delivers with one process per usable core."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from tests.acceptance.conftest import create_webhook
from tests.acceptance.test_delivery_processes import attempts_made_by, children_of
from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver, Reply
from tests.support.server import HookdProcess

CORES = len(os.sched_getaffinity(0))


class TestDefaultProcesses:
    def test_serve_starts_a_delivery_child_per_extra_core(
        self, hookd_factory: Callable[..., HookdProcess]
    ) -> None:
        hookd = hookd_factory().start()  # no HOOKD_DELIVERY_PROCESSES
        assert hookd.proc is not None
        assert "HOOKD_DELIVERY_PROCESSES" not in hookd.env
        pid = hookd.proc.pid
        found = eventually_sync(
            lambda: children_of(pid) if len(children_of(pid)) >= CORES - 1 else None,
            timeout=20,
            what=f"{CORES - 1} delivery children",
        )
        assert len(found) == CORES - 1

    @pytest.mark.skipif(CORES < 2, reason="one core: serve delivers alone")
    def test_the_children_deliver_part_of_the_work_each_delivery_once(
        self, hookd_factory: Callable[..., HookdProcess], receiver: Receiver
    ) -> None:
        receiver.default = Reply(200, delay=0.05)
        hookd = hookd_factory().start()
        assert hookd.proc is not None
        pid = hookd.proc.pid
        eventually_sync(
            lambda: len(children_of(pid)) >= CORES - 1 or None, timeout=20, what="the children"
        )
        with hookd.client() as api:
            for i in range(2):
                create_webhook(api, f"{receiver.url}/w{i}")
            events = [{"type": "job.success", "data": {"n": n}} for n in range(150)]
            r = api.post("/v1/apps/default/events/batch", json={"events": events})
            assert r.status_code == 202, r.text
            receiver.wait_for(300, timeout=60)
            parent_share = attempts_made_by(api.get("/metrics").text)
        got = [(r.route, r.headers["webhook-id"]) for r in receiver.received()]
        assert len(got) == 300 and len(set(got)) == 300
        assert parent_share < 300  # a child delivered some
