"""Owners hear about failures by e-mail: one digest per webhook per interval, real SMTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from hookd.config import Settings
from hookd.delivery.mailing import Notifier
from hookd.domain.models import DeliveryStatus
from hookd.mail import Mailer, parse_smtp_url
from hookd.store import Store
from tests.support.alerts import alerting
from tests.support.factories import make_webhook, publish
from tests.support.outcomes import settled
from tests.support.polling import eventually
from tests.support.receiver import Receiver, Reply
from tests.support.server import free_port
from tests.support.smtp import SmtpSink

BASE = "https://hookd.example.com"
OWNERS = "ops@example.com,dev@example.com"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as smtp:
        yield smtp


def notifier(store: Store, url: str, *, interval: float = 3600.0) -> Notifier:
    return Notifier(store, Mailer(parse_smtp_url(url)), interval=interval, base_url=BASE, tick=0.0)


def mail_errors() -> float:
    return REGISTRY.get_sample_value("hookd_mail_errors_total") or 0.0


def with_mail(settings: Settings, url: str) -> Settings:
    return settings.model_copy(update={"smtp_url": SecretStr(url), "retry_schedule": ()})


class TestDigest:
    async def test_many_failures_make_one_e_mail_then_quiet_for_the_interval(
        self, store: Store, settings: Settings, receiver: Receiver, sink: SmtpSink, app_id: str
    ) -> None:
        receiver.default = Reply(500)
        wh = await make_webhook(store, app_id, receiver.url, mail_exceptions_to=OWNERS)
        async with alerting(store, with_mail(settings, sink.url)):
            events = [await publish(store, app_id) for _ in range(5)]
            failed = [
                await settled(store, app_id, p.event.id, DeliveryStatus.FAILED) for p in events
            ]
            assert await notifier(store, sink.url).run_once() == 1
            # Another process looking at the same moment finds the turn taken.
            assert await notifier(store, sink.url).run_once() == 0
            late = await publish(store, app_id)
            await settled(store, app_id, late.event.id, DeliveryStatus.FAILED)
            assert await notifier(store, sink.url).run_once() == 0  # within the interval
            assert await store.notifications.unsent(wh.id) == 1
        [message] = sink.messages
        assert message["Subject"] == '[hookd] 5 deliveries failed for webhook "job.start"'
        assert message["To"] == "ops@example.com, dev@example.com"
        assert set(sink.envelopes[0].rcpt_tos) == {"ops@example.com", "dev@example.com"}
        body = message.get_content()
        assert "Failed deliveries (5), newest first:" in body
        for detail in failed:
            link = f"{BASE}/v1/apps/{app_id}/deliveries/{detail.delivery.id}"
            assert link in body
        assert body.count("job.start  500 Internal Server Error") == 5
        assert f"POST {BASE}/v1/apps/{app_id}/webhooks/{wh.id}/recover" in body
        # An interval later the next digest holds only what is new.
        assert await notifier(store, sink.url, interval=1.0).run_once(now=time.time() + 2) == 1
        second = sink.wait_for(2)[1]
        assert second["Subject"] == '[hookd] 1 delivery failed for webhook "job.start"'

    async def test_a_disabled_webhook_tells_why_and_how_to_enable_it(
        self, store: Store, settings: Settings, receiver: Receiver, sink: SmtpSink, app_id: str
    ) -> None:
        receiver.default = Reply(410)
        wh = await make_webhook(store, app_id, receiver.url, mail_exceptions_to=OWNERS)
        async with alerting(store, with_mail(settings, sink.url)):
            published = await publish(store, app_id)
            await settled(store, app_id, published.event.id, DeliveryStatus.FAILED)
            assert await notifier(store, sink.url).run_once() == 1
        [message] = sink.messages
        assert message["Subject"] == '[hookd] webhook "job.start" disabled'
        body = message.get_content()
        assert "Reason: endpoint answered 410 Gone" in body
        assert f"PATCH {BASE}/v1/apps/{app_id}/webhooks/{wh.id}" in body
        assert '{"enabled": true}' in body and "Failed deliveries (1)" in body

    async def test_a_broken_mail_server_loses_nothing_and_is_counted(
        self, store: Store, settings: Settings, receiver: Receiver, sink: SmtpSink, app_id: str
    ) -> None:
        receiver.default = Reply(500)
        wh = await make_webhook(
            store, app_id, receiver.url + "/down", mail_exceptions_to="ops@example.com"
        )
        receiver.script(Reply(200), path="/up")
        healthy = await make_webhook(store, app_id, receiver.url + "/up", events=("job.done",))
        dead = f"smtp://127.0.0.1:{free_port()}?timeout=2"
        async with alerting(store, with_mail(settings, dead)):
            published = await publish(store, app_id)
            await settled(store, app_id, published.event.id, DeliveryStatus.FAILED)
            errors = mail_errors()
            assert await notifier(store, dead).run_once() == 0
            assert mail_errors() == errors + 1
            # Deliveries go on as before; the failure waits for the next try.
            done = await publish(store, app_id, "job.done")
            await settled(store, app_id, done.event.id, DeliveryStatus.SUCCEEDED)
            assert await store.notifications.unsent(wh.id) == 1
            assert await notifier(store, sink.url).run_once() == 0  # retried later, not now
            assert await notifier(store, sink.url).run_once(now=time.time() + 301) == 1
        [message] = sink.messages
        assert message["Subject"] == '[hookd] 1 delivery failed for webhook "job.start"'
        assert await store.notifications.unsent(wh.id) == 0
        assert await store.notifications.unsent(healthy.id) == 0

    async def test_without_owners_or_a_mail_server_nothing_is_noted(
        self, store: Store, settings: Settings, receiver: Receiver, app_id: str
    ) -> None:
        receiver.default = Reply(500)
        nobody = await make_webhook(store, app_id, receiver.url)
        unmailed = await make_webhook(store, app_id, receiver.url, mail_exceptions_to=OWNERS)
        async with alerting(store, settings, retry_schedule=()):
            published = await publish(store, app_id)

            async def both_failed() -> bool:
                page = await store.deliveries.page(app_id, limit=5, event_id=published.event.id)
                return all(d.status is DeliveryStatus.FAILED for d in page.items)

            await eventually(both_failed, what="both deliveries to fail")
        assert await store.notifications.unsent(nobody.id) == 0
        assert await store.notifications.unsent(unmailed.id) == 0
