"""When endpoints fail: a fault-injecting receiver against the real worker, on both backends.

Each test asserts the delivery's outcome, its attempt records and the
webhook's state, as a user would read them through the API.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from email.utils import formatdate
from ipaddress import ip_network
from pathlib import Path

import pytest

from hookd.config import Settings
from hookd.delivery.worker import Worker
from hookd.domain.models import PARKED_AT, DeliveryStatus
from hookd.errors import Invalid
from hookd.service.webhooks import WebhookService
from hookd.store import Store
from tests.support.factories import make_webhook, publish
from tests.support.outcomes import deliveries_of, self_signed, settled, webhook_now
from tests.support.polling import eventually
from tests.support.receiver import Receiver, Reply

MB = 1024 * 1024


class TestStatusCodes:
    async def test_500_is_retried_then_fails_and_the_webhook_says_why(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=(0.05, 0.05))
        receiver.default = Reply(500, body=b"database down")
        wh = await make_webhook(store, app_id, receiver.url)
        published = await publish(store, app_id)
        detail = await settled(store, app_id, published.event.id, DeliveryStatus.FAILED)
        assert [a.response_status for a in detail.attempts] == [500, 500, 500]
        assert [a.outcome for a in detail.attempts] == ["retry", "retry", "failed"]
        first = detail.attempts[0]
        assert (
            first.error_code == "http_status" and first.error_message == "500 Internal Server Error"
        )
        assert first.response_body == "database down"
        after = await webhook_now(store, wh)
        assert after.enabled and after.failure_streak == 3
        assert after.last_error == "500 Internal Server Error"
        assert after.failing_since == first.started_at and after.last_success_at is None

    async def test_retry_after_in_seconds_and_as_an_http_date_are_honoured(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=(0.05, 30.0))
        receiver.script(Reply(503, headers={"Retry-After": "2"}), Reply(200), path="/503")
        when = formatdate(time.time() + 3, usegmt=True)
        receiver.script(Reply(429, headers={"Retry-After": when}), Reply(200), path="/429")
        unavailable = await make_webhook(store, app_id, receiver.url + "/503")
        await make_webhook(store, app_id, receiver.url + "/429")
        published = await publish(store, app_id)
        first, second = await receiver.wait_for_async(2, path="/503", timeout=10)
        assert 1.9 <= second.received_at - first.received_at < 10
        first, second = await receiver.wait_for_async(2, path="/429", timeout=10)
        assert 1.0 <= second.received_at - first.received_at < 10  # HTTP dates are whole seconds

        async def both_succeeded() -> bool:
            page = await store.deliveries.page(app_id, limit=5, event_id=published.event.id)
            return all(d.status is DeliveryStatus.SUCCEEDED for d in page.items)

        await eventually(both_succeeded, what="both deliveries to succeed")
        page = await store.deliveries.page(app_id, limit=5, event_id=published.event.id)
        for delivery in page.items:
            detail = await store.deliveries.get(app_id, delivery.id)
            assert detail is not None
            throttled, ok = detail.attempts
            assert throttled.response_status in (429, 503) and throttled.outcome == "retry"
            assert "Retry-After" in throttled.response_headers and ok.response_status == 200
        after = await webhook_now(store, unavailable)
        assert after.failure_streak == 0 and after.failing_since is None
        assert after.last_success_at is not None and after.last_error == "503 Service Unavailable"

    async def test_410_disables_parks_what_is_owed_and_enabling_resumes(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=(1.0,))
        gone: set[str] = set()
        receiver.set_handler(lambda r: Reply(410) if r.json()["id"] in gone else Reply(500))
        wh = await make_webhook(store, app_id, receiver.url)
        waiting = await publish(store, app_id)
        await settled(store, app_id, waiting.event.id, DeliveryStatus.PENDING, attempts=1)
        last = await publish(store, app_id)
        gone.add(last.event.id)
        detail = await settled(store, app_id, last.event.id, DeliveryStatus.FAILED)
        assert detail.attempts[0].outcome == "disable"
        after = await webhook_now(store, wh)
        assert not after.enabled and after.last_error == "410 Gone"
        assert after.disabled_reason is not None and "410 Gone" in after.disabled_reason
        # What the webhook is still owed is kept, parked, and not attempted.
        parked = await store.deliveries.get(
            app_id, (await deliveries_of(store, app_id, wh.id))[0].id
        )
        assert parked is not None and parked.delivery.status is DeliveryStatus.PENDING
        assert parked.delivery.next_attempt_at >= PARKED_AT and len(parked.attempts) == 1
        receiver.set_handler(None)
        await store.webhooks.update(app_id, wh.id, {"enabled": True}, time.time())
        resumed = await settled(store, app_id, waiting.event.id, DeliveryStatus.SUCCEEDED)
        assert [a.response_status for a in resumed.attempts] == [500, 200]
        after = await webhook_now(store, wh)
        assert after.enabled and after.disabled_reason is None and after.failure_streak == 0

    async def test_redirects_are_failures_and_never_followed(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=())
        with Receiver() as private:
            receiver.default = Reply(404)
            receiver.script(
                Reply(301, headers={"Location": "https://example.com/hook"}), path="/moved"
            )
            receiver.script(Reply(307, headers={"Location": private.url + "/x"}), path="/temp")
            await make_webhook(store, app_id, receiver.url + "/moved")
            await make_webhook(store, app_id, receiver.url + "/temp")
            published = await publish(store, app_id)

            async def both_failed() -> list[int] | None:
                page = await store.deliveries.page(app_id, limit=5, event_id=published.event.id)
                done = [d for d in page.items if d.status is DeliveryStatus.FAILED]
                return sorted(d.last_status_code or 0 for d in done) if len(done) == 2 else None

            assert await eventually(both_failed, what="both redirects to fail") == [301, 307]
            assert private.requests == []
        assert len(receiver.received("/moved")) == len(receiver.received("/temp")) == 1
        page = await store.deliveries.page(app_id, limit=5, event_id=published.event.id)
        assert {d.last_error for d in page.items} == {
            "301 Moved Permanently",
            "307 Temporary Redirect",
        }


class TestBrokenConnections:
    async def test_accepted_and_never_answered_times_out_with_a_minimum_back_off(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        # The schedule asks for 0.05 s; a timed-out endpoint still gets the minimum back-off
        # (capped by the schedule's longest delay, here 1.5 s).
        start_worker(request_timeout=0.4, retry_schedule=(0.05, 1.5), shutdown_grace=0.1)
        receiver.default = Reply(action="hang")
        wh = await make_webhook(store, app_id, receiver.url)
        published = await publish(store, app_id)
        detail = await settled(
            store, app_id, published.event.id, DeliveryStatus.PENDING, attempts=1
        )
        [attempt] = detail.attempts
        assert attempt.error_code == "timeout" and attempt.error_message == "timed out after 0.4 s"
        assert attempt.response_status is None and attempt.outcome == "retry"
        assert detail.delivery.next_attempt_at - attempt.started_at >= 0.4 + 1.5 - 0.05
        assert (await webhook_now(store, wh)).last_error == "timed out after 0.4 s"

    async def test_a_reset_mid_response_is_a_failed_attempt(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=())
        receiver.default = Reply(200, body=b"x" * 4000, action="reset", reset_after=300)
        await make_webhook(store, app_id, receiver.url)
        published = await publish(store, app_id)
        detail = await settled(store, app_id, published.event.id, DeliveryStatus.FAILED)
        [attempt] = detail.attempts
        assert attempt.error_code == "connection_reset" and attempt.response_status is None
        assert attempt.error_message is not None and "incomplete" in attempt.error_message

    async def test_a_server_dripping_one_byte_a_second_times_out(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(request_timeout=0.5, retry_schedule=())
        receiver.default = Reply(200, body=b"accepted", action="drip", drip_interval=1.0)
        await make_webhook(store, app_id, receiver.url)
        published = await publish(store, app_id)
        detail = await settled(store, app_id, published.event.id, DeliveryStatus.FAILED)
        [attempt] = detail.attempts
        assert attempt.error_code == "timeout" and 400 <= attempt.duration_ms < 2000

    async def test_self_signed_https_fails_and_says_why(
        self,
        store: Store,
        start_worker: Callable[..., Worker],
        app_id: str,
        tmp_path: Path,
    ) -> None:
        start_worker(retry_schedule=())
        requests: list[bytes] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                requests.append(await reader.readuntil(b"\r\n\r\n"))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                pass  # the client refused the certificate during the handshake
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=self_signed(tmp_path))
        try:
            port = server.sockets[0].getsockname()[1]
            wh = await make_webhook(store, app_id, f"https://127.0.0.1:{port}/hook")
            published = await publish(store, app_id)
            detail = await settled(store, app_id, published.event.id, DeliveryStatus.FAILED)
        finally:
            server.close()
            await server.wait_closed()
        [attempt] = detail.attempts
        assert attempt.error_code == "tls" and attempt.response_status is None
        assert attempt.error_message is not None
        assert "certificate verify failed: self-signed certificate" in attempt.error_message
        assert requests == []
        assert (await webhook_now(store, wh)).last_error == attempt.error_message


class TestLimits:
    async def test_a_20_mb_response_succeeds_without_being_read_whole(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=())
        receiver.script(Reply(200, body_size=20 * MB), Reply(200, body=b"thanks"))
        wh = await make_webhook(store, app_id, receiver.url, max_in_flight=1)
        big = await publish(store, app_id)
        detail = await settled(store, app_id, big.event.id, DeliveryStatus.SUCCEEDED)
        [attempt] = detail.attempts
        assert len(attempt.response_body) == 64 * 1024 and attempt.duration_ms < 3000
        small = await publish(store, app_id)
        after = await settled(store, app_id, small.event.id, DeliveryStatus.SUCCEEDED)
        assert after.attempts[0].response_body == "thanks"
        # The unread rest is discarded with its connection: the next request had a fresh one.
        first, second = receiver.requests
        assert first.peer != second.peer
        assert (await webhook_now(store, wh)).failure_streak == 0

    async def test_response_headers_over_the_limit_fail_the_attempt(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=(), max_response_header_bytes=1024)
        receiver.default = Reply(200, headers={"X-Padding": "p" * 3000})
        await make_webhook(store, app_id, receiver.url)
        published = await publish(store, app_id)
        detail = await settled(store, app_id, published.event.id, DeliveryStatus.FAILED)
        [attempt] = detail.attempts
        assert attempt.error_code == "response_too_large"
        assert attempt.error_message == (
            "response status or header line longer than 1,024 bytes"
            " (HOOKD_MAX_RESPONSE_HEADER_BYTES)"
        )

    async def test_a_request_body_over_the_limit_is_never_sent_nor_retried(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=(0.05, 0.05), max_request_bytes=500)
        await make_webhook(store, app_id, receiver.url)
        published = await publish(store, app_id, data={"blob": "b" * 1000})
        detail = await settled(store, app_id, published.event.id, DeliveryStatus.FAILED)
        [attempt] = detail.attempts
        assert attempt.error_code == "body_too_large" and attempt.outcome == "failed"
        assert attempt.error_message is not None
        assert "the limit is 500 (HOOKD_MAX_REQUEST_BYTES)" in attempt.error_message
        assert receiver.requests == []


class TestAutoDisable:
    async def test_after_failed_attempts_in_a_row_then_enabling_resumes(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=(0.05,) * 6)
        receiver.default = Reply(500)
        wh = await make_webhook(store, app_id, receiver.url, disable_after_failures=4)
        published = [await publish(store, app_id) for _ in range(3)]

        async def disabled() -> bool:
            return not (await webhook_now(store, wh)).enabled

        await eventually(disabled, what="the webhook to be disabled")
        after = await webhook_now(store, wh)
        # Attempts recorded together (or in flight) may carry the streak past 4.
        assert after.failure_streak >= 4 and after.disabled_reason is not None
        found = re.fullmatch(
            r"(\d+) attempts in a row failed; the last error: 500 Internal Server Error",
            after.disabled_reason,
        )
        assert found is not None and int(found[1]) >= 4
        assert after.last_error == "500 Internal Server Error"

        # Nothing is lost: each delivery waits, parked, with its attempts on record.
        # (An attempt still in flight when the disable committed settles a moment later.)
        async def all_parked() -> bool:
            kept = await deliveries_of(store, app_id, wh.id)
            return len(kept) == 3 and all(
                d.status is DeliveryStatus.PENDING and d.next_attempt_at >= PARKED_AT for d in kept
            )

        await eventually(all_parked, what="the three deliveries to wait, pending and parked")
        seen = len(receiver.requests)
        receiver.default = Reply(200)
        await store.webhooks.update(app_id, wh.id, {"enabled": True}, time.time())
        for p in published:
            await settled(store, app_id, p.event.id, DeliveryStatus.SUCCEEDED)
        assert len(receiver.requests) == seen + 3
        after = await webhook_now(store, wh)
        assert after.failure_streak == 0 and after.failing_since is None
        assert after.last_success_at is not None and after.enabled

    async def test_after_failing_for_the_window_without_a_success(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=(0.5,) * 4, disable_after_seconds=1.0)
        receiver.default = Reply(503)
        wh = await make_webhook(store, app_id, receiver.url)
        published = await publish(store, app_id)

        async def disabled() -> bool:
            return not (await webhook_now(store, wh)).enabled

        await eventually(disabled, what="the webhook to be disabled")
        after = await webhook_now(store, wh)
        assert after.disabled_reason is not None
        assert after.disabled_reason.startswith("failing for 1 s without a success (since ")
        detail = await settled(store, app_id, published.event.id, DeliveryStatus.PENDING)
        assert len(detail.attempts) == 3  # 0 s, 0.5 s, 1 s: the third is past the window


class TestCircuitBreaker:
    async def test_a_dead_endpoint_costs_one_probe_per_interval_then_recovers(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(retry_schedule=(0.05,) * 20, circuit_after_failures=3, circuit_interval=0.4)
        receiver.default = Reply(500)
        wh = await make_webhook(store, app_id, receiver.url, max_in_flight=1)
        published = [await publish(store, app_id) for _ in range(15)]

        async def circuit_open() -> bool:
            return (await webhook_now(store, wh)).circuit_open_until is not None

        await eventually(circuit_open, what="the circuit to open")
        await receiver.wait_for_async(len(receiver.requests) + 1, timeout=5)  # a probe
        before = len(receiver.requests)
        began = time.monotonic()
        await receiver.wait_for_async(before + 3, timeout=5)  # three more probes
        elapsed = time.monotonic() - began
        # One request per interval, not one per delivery (15 deliveries, 21 attempts each).
        assert elapsed >= 2 * 0.4 * 0.9, elapsed
        held = await deliveries_of(store, app_id, wh.id)
        assert {d.status for d in held} <= {DeliveryStatus.PENDING, DeliveryStatus.SENDING}
        receiver.default = Reply(200)
        for p in published:
            await settled(store, app_id, p.event.id, DeliveryStatus.SUCCEEDED, timeout=10)
        after = await webhook_now(store, wh)
        assert after.circuit_open_until is None and after.failure_streak == 0
        assert len(receiver.requests) < 40


class TestIsolation:
    async def test_a_black_hole_endpoint_does_not_slow_a_healthy_one(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(concurrency=20, request_timeout=5.0, retry_schedule=(), shutdown_grace=0.1)
        with Receiver() as hole:
            hole.default = Reply(action="hang")
            await make_webhook(store, app_id, hole.url, events=("job.stuck",))
            await make_webhook(store, app_id, receiver.url, events=("job.start",))
            for _ in range(40):
                await publish(store, app_id, "job.stuck")
            began = time.monotonic()
            for _ in range(40):
                await publish(store, app_id, "job.start")
            await receiver.wait_for_async(40, timeout=5)
            took = time.monotonic() - began
            # Delivered while the black hole still holds its requests (5 s timeout).
            assert took < 2.0, took
            assert 1 <= len(hole.requests) <= 10  # its own cap, max_in_flight = 10

    async def test_max_in_flight_caps_requests_at_once(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker()
        receiver.default = Reply(200, delay=0.15)
        await make_webhook(store, app_id, receiver.url, max_in_flight=2)
        for _ in range(8):
            await publish(store, app_id)
        arrived = sorted(r.received_at for r in await receiver.wait_for_async(8))
        # A third request can only start once one of the two before it was answered.
        assert all(b - a >= 0.13 for a, b in zip(arrived, arrived[2:], strict=False)), arrived

    async def test_the_rate_limit_spaces_requests(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker()
        await make_webhook(store, app_id, receiver.url, rate_limit=10.0)
        for _ in range(6):
            await publish(store, app_id)
        arrived = sorted(r.received_at for r in await receiver.wait_for_async(6))
        # Starts are 0.1 s apart; the first request also opens the connection, so
        # measure from the second (4 gaps: 0.4 s; unlimited it would be a few ms).
        assert arrived[-1] - arrived[1] >= 0.3, arrived


class TestTargets:
    """Outside dev mode every connection to a non-public address is refused when made."""

    async def test_private_targets_are_refused_at_connect_time(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        # port=1: hookd's own address (allowed for chaining) is none of the receivers'.
        start_worker(dev=False, retry_schedule=(), port=1)
        port = receiver.port
        with Receiver(host="::1") as six:
            urls = [
                f"http://127.0.0.1:{port}/",
                f"http://[::1]:{six.port}/",
                f"http://[::ffff:127.0.0.1]:{port}/",
                "http://169.254.169.254/latest/meta-data/",
                "http://10.0.0.1/",
                f"http://0.0.0.0:{port}/",
                f"http://[64:ff9b::7f00:1]:{port}/",
                f"http://localhost:{port}/",  # a name that resolves to loopback
            ]
            hooks = {
                (await make_webhook(store, app_id, url)).id: url for url in urls
            }  # made in the store: the API refuses these URLs outright
            published = await publish(store, app_id)

            async def all_failed() -> list[str] | None:
                page = await store.deliveries.page(app_id, limit=20, event_id=published.event.id)
                done = [d for d in page.items if d.status is DeliveryStatus.FAILED]
                return [d.id for d in done] if len(done) == len(urls) else None

            for delivery_id in await eventually(all_failed, what="every delivery to fail"):
                detail = await store.deliveries.get(app_id, delivery_id)
                assert detail is not None
                [attempt] = detail.attempts
                url = hooks[detail.delivery.webhook_id]
                assert attempt.error_code == "blocked_target", (url, attempt.error_message)
                assert attempt.error_message is not None
                assert attempt.error_message.startswith("blocked: refused to connect to "), url
            assert six.requests == []
        assert receiver.requests == []

    async def test_allowed_targets_open_chosen_private_ranges(
        self, store: Store, start_worker: Callable[..., Worker], receiver: Receiver, app_id: str
    ) -> None:
        start_worker(
            dev=False, retry_schedule=(), port=1, allowed_targets=(ip_network("127.0.0.0/8"),)
        )
        opened = await make_webhook(store, app_id, f"http://127.0.0.1:{receiver.port}/")
        closed = await make_webhook(store, app_id, f"http://[::1]:{receiver.port}/")
        published = await publish(store, app_id)
        await receiver.wait_for_async(1)

        async def outcomes() -> dict[str, str] | None:
            page = await store.deliveries.page(app_id, limit=5, event_id=published.event.id)
            if any(
                d.status not in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED)
                for d in page.items
            ):
                return None
            return {d.webhook_id: d.status.value for d in page.items}

        assert await eventually(outcomes, what="both deliveries to finish") == {
            opened.id: "succeeded",
            closed.id: "failed",
        }

    async def test_the_api_takes_https_urls_only_in_allowed_ranges(
        self, store: Store, settings: Settings
    ) -> None:
        app = await store.apps.ensure_default(time.time())
        strict = WebhookService(store, settings.model_copy(update={"dev": False}))
        opened = WebhookService(
            store,
            settings.model_copy(
                update={"dev": False, "allowed_targets": (ip_network("10.0.0.0/8"),)}
            ),
        )
        fields = {"url": "https://10.1.2.3/hook", "events": ["*"]}
        with pytest.raises(Invalid, match="must not point at a private"):
            await strict.create(app, dict(fields))
        with pytest.raises(Invalid, match="must use https://"):
            await opened.create(app, {**fields, "url": "http://10.1.2.3/hook"})
        assert (await opened.create(app, dict(fields))).url == "https://10.1.2.3/hook"
