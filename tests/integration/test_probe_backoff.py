"""A circuit opened by a short outage probes 5 s later, not one full interval later."""

from __future__ import annotations

import time
from collections.abc import Callable

from hookd.delivery.worker import Worker
from hookd.domain.models import DeliveryStatus
from hookd.store import Store
from tests.support.factories import make_webhook, publish
from tests.support.outcomes import settled, webhook_now
from tests.support.polling import eventually
from tests.support.receiver import Receiver, Reply


class TestProbeBackoff:
    async def test_a_receiver_down_then_up_drains_within_10_s(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        # The default interval (60 s): only the backoff's first probe can drain it in time.
        start_worker(retry_schedule=(0.05,) * 20, circuit_after_failures=3, circuit_interval=60.0)
        receiver.default = Reply(503)
        wh = await make_webhook(store, app_id, receiver.url, max_in_flight=1)
        published = [await publish(store, app_id) for _ in range(5)]

        async def circuit_open() -> bool:
            return (await webhook_now(store, wh)).circuit_open_until is not None

        await eventually(circuit_open, what="the circuit to open")
        receiver.default = Reply(200)  # the endpoint is back
        began = time.monotonic()
        for p in published:
            await settled(store, app_id, p.event.id, DeliveryStatus.SUCCEEDED, timeout=12)
        drained = time.monotonic() - began
        assert drained <= 10.0, drained
        after = await webhook_now(store, wh)
        assert after.circuit_open_until is None and after.failure_streak == 0

    async def test_a_delivery_waiting_out_a_long_retry_goes_when_the_circuit_closes(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        # The first failure of each delivery sends it 300 s away; the third opens the circuit.
        start_worker(retry_schedule=(300.0, 300.0), circuit_after_failures=3, circuit_interval=60.0)
        receiver.default = Reply(503)
        wh = await make_webhook(store, app_id, receiver.url, max_in_flight=1)
        published = [await publish(store, app_id) for _ in range(4)]

        async def circuit_open() -> bool:
            return (await webhook_now(store, wh)).circuit_open_until is not None

        await eventually(circuit_open, what="the circuit to open")
        receiver.default = Reply(200)  # back: the probe (the fourth) succeeds in 5 s
        for p in published:  # the three that failed before it go too, not 300 s later
            await settled(store, app_id, p.event.id, DeliveryStatus.SUCCEEDED, timeout=12)
