"""Integers beyond 64 bits in event data reach receivers exactly: envelope, template, batch."""

from __future__ import annotations

import json

import pytest

from hookd.delivery.request import System, build_batch_request, build_request
from hookd.domain.models import Webhook
from hookd.store.records import StoredEvent

BIG = 18446744073709551616123  # 2**64 is 18446744073709551616
EVENT = StoredEvent("evt_1", "app_1", "order.paid", f'{{"n": {BIG}, "s": "x"}}', 1.0, True)
SYSTEM = System(url="http://hookd.test", fqdn="hookd.test")


def webhook(body_template: str | None = None) -> Webhook:
    return Webhook(
        id="wh_1",
        app_id="app_1",
        name="paid",
        url="https://receiver.test/hook",
        events=("order.paid",),
        body_template=body_template,
    )


@pytest.mark.parametrize("template", [None, '{"n": ${n}, "s": ${s}}'], ids=["envelope", "template"])
def test_one_event_keeps_every_digit(template: str | None) -> None:
    body = json.loads(build_request(webhook(template), EVENT, now=1.0, system=SYSTEM).body)
    data = body["data"] if template is None else body
    assert data == {"n": BIG, "s": "x"}


def test_a_batch_keeps_every_digit() -> None:
    request = build_batch_request(webhook(), "dlv_1", [EVENT, EVENT], now=1.0, system=SYSTEM)
    assert json.loads(request.body) == {"order.paid": [{"n": BIG, "s": "x"}] * 2}
