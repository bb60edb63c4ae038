"""Ordered delivery per webhook (issue #22 item 1), on SQLite and PostgreSQL.

`hookd serve` delivers with one process per core (two here), so every test
also has two workers claiming the same lines.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import httpx

from tests.acceptance.conftest import create_event_type, create_webhook
from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver, Reply, Request

H = "/v1/apps/default"
DELAY = 0.02


def publish(api: httpx.Client, events: list[dict[str, Any]]) -> list[str]:
    r = api.post(f"{H}/events/batch", json={"events": events})
    assert r.status_code == 202, r.text
    return [item["id"] for item in r.json()["data"]]


def statuses(api: httpx.Client, webhook_id: str) -> collections.Counter[str]:
    found: collections.Counter[str] = collections.Counter()
    cursor = None
    while True:
        params: dict[str, Any] = {"webhook": webhook_id, "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = api.get(f"{H}/deliveries", params=params).json()
        found.update(d["status"] for d in page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def all_done(api: httpx.Client, webhook_id: str, expected: dict[str, int]) -> None:
    eventually_sync(
        lambda: statuses(api, webhook_id) == expected,
        timeout=60,
        interval=0.2,
        what=f"deliveries of {webhook_id} to be {expected}",
    )


class Script:
    """Answer after DELAY; fail the first attempt of the events numbered in `fail_first`."""

    def __init__(self, receiver: Receiver, fail_first: set[int] | None = None) -> None:
        self.lock = threading.Lock()
        self.fail_first = set(fail_first or ())
        self.receiver = receiver
        receiver.set_handler(self.reply)

    def reply(self, request: Request) -> Reply:
        with self.lock:
            n = request.json()["data"]["n"]
            fail = n in self.fail_first
            self.fail_first.discard(n)
        return Reply(503 if fail else 200, delay=DELAY)

    def most_in_flight(self, *, per_key: bool) -> int:
        """The most requests (of one line, or of all) whose answer was not yet sent at once.

        A request is in flight from its arrival until DELAY later, when it is answered.
        """
        spans: dict[str, list[tuple[float, int]]] = collections.defaultdict(list)
        for request in self.receiver.received():
            data = request.json()["data"]
            key = str(data.get("order", {}).get("id")) if per_key else "all"
            spans[key] += [(request.received_at, 1), (request.received_at + DELAY, -1)]
        most = 0
        for marks in spans.values():
            now = 0
            for _, step in sorted(marks, key=lambda m: (m[0], m[1])):  # ends before starts
                now += step
                most = max(most, now)
        return most


def answered(receiver: Receiver) -> list[dict[str, Any]]:
    """The data of each request, in the order they arrived."""
    return [r.json()["data"] for r in receiver.received()]


class TestOneLine:
    def test_a_failing_head_holds_the_line_until_it_succeeds(
        self, api: httpx.Client, receiver: Receiver
    ) -> None:
        counting = Script(receiver, fail_first={0})
        webhook = create_webhook(api, receiver.url + "/fifo", ordering="fifo")
        assert (webhook["ordering"], webhook["ordering_key"]) == ("fifo", None)
        publish(api, [{"type": "job.success", "data": {"n": n}} for n in range(40)])
        all_done(api, webhook["id"], {"succeeded": 40})
        arrived = [d["n"] for d in answered(receiver)]
        # Event 0 failed once and was retried before anything behind it went.
        assert arrived == [0, *range(40)]
        assert counting.most_in_flight(per_key=False) == 1

    def test_a_head_that_fails_for_good_lets_the_next_go(
        self, api: httpx.Client, receiver: Receiver
    ) -> None:
        receiver.set_handler(
            lambda r: Reply(500 if r.json()["data"]["n"] == 0 else 200, delay=DELAY)
        )
        webhook = create_webhook(api, receiver.url + "/fifo", ordering="fifo")
        [first, *_] = publish(api, [{"type": "job.success", "data": {"n": n}} for n in range(5)])
        all_done(api, webhook["id"], {"failed": 1, "succeeded": 4})
        arrived = [d["n"] for d in answered(receiver)]
        assert arrived == [0, 0, 0, 0, 1, 2, 3, 4]  # its four attempts, then the rest
        [failed] = api.get(f"{H}/deliveries", params={"event": first}).json()["data"]
        assert failed["status"] == "failed" and failed["ordering_key"] == ""


class TestLinesByKey:
    def test_each_keys_events_arrive_in_order_and_keys_flow_in_parallel(
        self, api: httpx.Client, receiver: Receiver
    ) -> None:
        counting = Script(receiver, fail_first={0})
        webhook = create_webhook(
            api,
            receiver.url + "/fifo",
            ordering="fifo",
            ordering_key="${order.id}",
            max_in_flight=20,
        )
        keys = 8
        events = [
            {"type": "job.success", "data": {"n": n, "order": {"id": f"o{n % keys}"}}}
            for n in range(200)
        ]
        publish(api, events)
        all_done(api, webhook["id"], {"succeeded": 200})
        by_key: dict[str, list[int]] = collections.defaultdict(list)
        for data in answered(receiver):
            by_key[data["order"]["id"]].append(data["n"])
        assert by_key.pop("o0") == [0, *range(0, 200, keys)]  # its head retried first
        for key, arrived in by_key.items():
            assert arrived == sorted(arrived) == list(range(int(key[1:]), 200, keys)), key
        assert counting.most_in_flight(per_key=True) == 1  # never two in flight for one key
        assert counting.most_in_flight(per_key=False) > 1  # while the keys went side by side

    def test_a_missing_key_field_makes_a_line_of_its_own(
        self, api: httpx.Client, receiver: Receiver
    ) -> None:
        webhook = create_webhook(
            api, receiver.url + "/fifo", ordering="fifo", ordering_key="${order.id}"
        )
        [event] = publish(api, [{"type": "job.success", "data": {"n": 1}}])
        all_done(api, webhook["id"], {"succeeded": 1})
        [delivery] = api.get(f"{H}/deliveries", params={"event": event}).json()["data"]
        assert delivery["ordering_key"] == ""


BAD_ORDERING = [
    ({"ordering": "lifo"}, "ordering", "must be one of none, fifo"),
    ({"ordering_key": "${order.id}"}, "ordering_key", "fifo"),
    ({"ordering": "fifo", "ordering_key": "${order.id + 1}"}, "ordering_key", "path"),
    ({"ordering": "fifo", "ordering_key": "plain"}, "ordering_key", "field"),
    ({"ordering": "fifo", "mode": "queued"}, "ordering", "queued"),
]


class TestValidation:
    def test_bad_ordering_is_refused_naming_the_field(self, api: httpx.Client) -> None:
        create_event_type(api, "job.success")
        for fields, field, words in BAD_ORDERING:  # one server for all cases
            r = api.post(
                f"{H}/webhooks",
                json={"url": "https://example.com/hook", "events": ["job.success"], **fields},
            )
            assert r.status_code == 422, (fields, r.text)
            [detail] = r.json()["error"]["details"]
            assert detail["field"] == field and words in detail["message"], (fields, detail)

    def test_ordering_can_be_turned_on_and_off(self, api: httpx.Client) -> None:
        webhook = create_webhook(api, "https://example.com/hook")
        r = api.patch(
            f"{H}/webhooks/{webhook['id']}", json={"ordering": "fifo", "ordering_key": "${a}"}
        )
        assert r.status_code == 200, r.text
        assert (r.json()["ordering"], r.json()["ordering_key"]) == ("fifo", "${a}")
        r = api.patch(f"{H}/webhooks/{webhook['id']}", json={"ordering": "none"})
        assert r.status_code == 200, r.text
        assert (r.json()["ordering"], r.json()["ordering_key"]) == ("none", None)


class TestSwitching:
    def test_deliveries_owed_before_a_switch_to_fifo_join_one_line(
        self, api: httpx.Client, receiver: Receiver
    ) -> None:
        receiver.default = Reply(200, delay=0.2)
        webhook = create_webhook(api, receiver.url + "/later", max_in_flight=1)
        publish(api, [{"type": "job.success", "data": {"n": n}} for n in range(6)])
        receiver.wait_for(1, timeout=10)
        r = api.patch(f"{H}/webhooks/{webhook['id']}", json={"ordering": "fifo"})
        assert r.status_code == 200, r.text
        # None is left behind outside every line: all are delivered, in order.
        all_done(api, webhook["id"], {"succeeded": 6})
        assert [d["n"] for d in answered(receiver)] == list(range(6))
