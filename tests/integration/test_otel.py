"""OpenTelemetry: the span tree of an event, `traceparent` on its requests, nothing when off.

hookd runs in-process (its lifespan started: store, ingest, worker are real);
requests go through the whole ASGI stack, deliveries to a real receiver on
loopback. Spans go to the SDK's in-memory exporter through telemetry's test hook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY

from hookd import telemetry
from hookd.config import Settings
from tests.support.asgi import admin_client, served
from tests.support.polling import eventually
from tests.support.receiver import Receiver, Reply

EVENTS = "/v1/apps/default/events"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PUBLISHER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PUBLISHER_SPAN}-01"


class Collected(MetricExporter):
    """Keep every metrics export."""

    def __init__(self) -> None:
        super().__init__()
        self.exports: list[MetricsData] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        self.exports.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


@pytest.fixture
def exported() -> Iterator[tuple[InMemorySpanExporter, Collected]]:
    spans, metrics = InMemorySpanExporter(), Collected()
    undo = telemetry.use_for_tests(spans, metrics)
    yield spans, metrics
    undo()


@pytest.fixture
def spans(exported: tuple[InMemorySpanExporter, Collected]) -> InMemorySpanExporter:
    return exported[0]


async def _running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with served(settings, worker=True) as app, admin_client(app) as client:
        yield client


@pytest.fixture
async def client(
    spans: InMemorySpanExporter, settings: Settings, receiver: Receiver
) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _running(settings):
        r = await c.post("/v1/apps/default/event-types", json={"name": "job.done"})
        assert r.status_code == 201, r.text
        r = await c.post(
            "/v1/apps/default/webhooks",
            json={"url": f"{receiver.url}/hook", "events": ["job.done"], "secret": _SECRET},
        )
        assert r.status_code == 201, r.text
        c.headers["x-webhook-id"] = r.json()["id"]
        yield c


_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def hex_span(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.span_id:016x}"


def parent_of(span: ReadableSpan) -> str | None:
    return None if span.parent is None else f"{span.parent.span_id:016x}"


async def attempts_ended(spans: InMemorySpanExporter, count: int) -> list[ReadableSpan]:
    async def check() -> list[ReadableSpan] | None:
        found = named(spans, "hookd.attempt")
        return found if len(found) >= count else None

    return await eventually(check, what=f"{count} attempt span(s)")


class TestSpanTree:
    async def test_a_published_traceparent_reaches_the_receiver_in_the_same_trace(
        self, client: httpx.AsyncClient, receiver: Receiver, spans: InMemorySpanExporter
    ) -> None:
        r = await client.post(
            EVENTS,
            json={"type": "job.done", "data": {"n": 1}},
            headers={"traceparent": TRACEPARENT, "tracestate": "vendor=abc"},
        )
        assert r.status_code == 202, r.text
        event_id = r.json()["id"]
        [request] = await receiver.wait_for_async(1)
        [attempt] = await attempts_ended(spans, 1)

        sent = request.headers["traceparent"].split("-")
        assert sent[1] == TRACE_ID  # the publisher's trace
        assert sent[2] == hex_span(attempt)  # the receiver's parent is the attempt
        assert request.headers["tracestate"] == "vendor=abc"
        assert "webhook-signature" in request.headers  # signed as ever

        [publish] = named(spans, "hookd.publish")
        [fanout] = named(spans, "hookd.fanout")
        assert {hex_trace(s) for s in (publish, fanout, attempt)} == {TRACE_ID}
        assert parent_of(publish) == PUBLISHER_SPAN
        assert parent_of(fanout) == hex_span(publish)
        assert parent_of(attempt) == hex_span(fanout)
        assert publish.kind is SpanKind.PRODUCER and attempt.kind is SpanKind.CLIENT
        assert publish.attributes is not None and fanout.attributes is not None
        assert publish.attributes["hookd.event.id"] == event_id
        assert publish.attributes["hookd.event.type"] == "job.done"
        assert fanout.attributes["hookd.deliveries"] == 1

        attrs: dict[str, Any] = dict(attempt.attributes or {})
        assert attrs["http.response.status_code"] == 200
        assert attrs["hookd.webhook.id"] == client.headers["x-webhook-id"]
        assert attrs["hookd.delivery.id"].startswith("dlv_")
        assert attrs["hookd.attempt.number"] == 1
        assert attrs["hookd.attempt.outcome"] == "succeeded"
        assert attrs["hookd.event.id"] == event_id
        assert attrs["server.address"] == "127.0.0.1"
        assert "error.type" not in attrs
        assert attempt.status.status_code is StatusCode.UNSET
        assert _SECRET not in json.dumps(attrs) and '"n": 1' not in json.dumps(attrs)

    async def test_a_failing_attempt_span_has_the_error_and_the_retry_is_its_sibling(
        self, client: httpx.AsyncClient, receiver: Receiver, spans: InMemorySpanExporter
    ) -> None:
        receiver.script(Reply(500))  # then the default 200
        r = await client.post(EVENTS, json={"type": "job.done", "data": {}})
        assert r.status_code == 202, r.text
        first, second = sorted(
            await attempts_ended(spans, 2),
            key=lambda s: int((s.attributes or {})["hookd.attempt.number"]),  # type: ignore[arg-type]
        )
        assert first.status.status_code is StatusCode.ERROR
        assert first.status.description == "500 Internal Server Error"
        failed = dict(first.attributes or {})
        assert failed["http.response.status_code"] == 500
        assert failed["error.type"] == "http_status"
        assert failed["hookd.attempt.outcome"] == "retry"
        assert (second.attributes or {})["http.response.status_code"] == 200
        assert (second.attributes or {})["hookd.attempt.number"] == 2
        assert second.status.status_code is StatusCode.UNSET

        # No traceparent came in: hookd's publish span starts the event's trace.
        [publish] = named(spans, "hookd.publish")
        [fanout] = named(spans, "hookd.fanout")
        assert publish.parent is None
        assert parent_of(first) == parent_of(second) == hex_span(fanout)
        assert {hex_trace(s) for s in (first, second)} == {hex_trace(publish)}
        sent = [q.headers["traceparent"].split("-") for q in receiver.requests]
        assert [s[2] for s in sent] == [hex_span(first), hex_span(second)]

    async def test_each_event_is_a_trace_of_its_own(
        self, client: httpx.AsyncClient, receiver: Receiver, spans: InMemorySpanExporter
    ) -> None:
        r = await client.post(
            f"{EVENTS}/batch",
            json={"events": [{"type": "job.done", "data": {"i": i}} for i in range(3)]},
        )
        assert r.status_code == 202, r.text
        attempts = await attempts_ended(spans, 3)
        assert len({hex_trace(s) for s in attempts}) == 3
        assert len({r.headers["traceparent"].split("-")[1] for r in receiver.requests}) == 3

    async def test_an_unreachable_receiver_is_an_error_span_with_its_code(
        self, client: httpx.AsyncClient, receiver: Receiver, spans: InMemorySpanExporter
    ) -> None:
        receiver.script(Reply(action="reset"))
        r = await client.post(EVENTS, json={"type": "job.done", "data": {}})
        assert r.status_code == 202, r.text
        first = next(
            s
            for s in await attempts_ended(spans, 1)
            if (s.attributes or {})["hookd.attempt.number"] == 1
        )
        assert first.status.status_code is StatusCode.ERROR
        assert "http.response.status_code" not in (first.attributes or {})
        assert (first.attributes or {})["error.type"] not in ("", "http_status")


class TestSampling:
    @pytest.fixture
    def spans(self) -> Iterator[InMemorySpanExporter]:
        exporter = InMemorySpanExporter()
        undo = telemetry.use_for_tests(exporter, sample_ratio=0.0)
        yield exporter
        undo()

    async def test_an_untraced_event_passes_its_context_on_and_a_traced_one_is_traced(
        self, client: httpx.AsyncClient, receiver: Receiver, spans: InMemorySpanExporter
    ) -> None:
        # Published without a traceparent, at a sample ratio of 0: not traced, none sent.
        r = await client.post(EVENTS, json={"type": "job.done", "data": {}})
        assert r.status_code == 202, r.text
        [untraced] = await receiver.wait_for_async(1)
        assert "traceparent" not in untraced.headers
        # An unsampled publisher's context goes on as it is, unsampled.
        unsampled = f"00-{TRACE_ID}-{PUBLISHER_SPAN}-00"
        r = await client.post(
            EVENTS, json={"type": "job.done", "data": {}}, headers={"traceparent": unsampled}
        )
        assert r.status_code == 202, r.text
        second = (await receiver.wait_for_async(2))[1]
        assert second.headers["traceparent"].split("-")[1::2] == [TRACE_ID, "00"]
        # A sampled publisher's trace is traced whatever the ratio.
        r = await client.post(
            EVENTS, json={"type": "job.done", "data": {}}, headers={"traceparent": TRACEPARENT}
        )
        assert r.status_code == 202, r.text
        third = (await receiver.wait_for_async(3))[2]
        [attempt] = await attempts_ended(spans, 1)
        assert third.headers["traceparent"] == f"00-{TRACE_ID}-{hex_span(attempt)}-01"
        assert {hex_trace(s) for s in spans.get_finished_spans()} == {TRACE_ID}
        assert len(spans.get_finished_spans()) == 3  # publish, fan-out, attempt: of the third


class TestMetrics:
    async def test_the_prometheus_metrics_are_exported_as_they_are(
        self,
        client: httpx.AsyncClient,
        receiver: Receiver,
        exported: tuple[InMemorySpanExporter, Collected],
    ) -> None:
        spans, metrics = exported
        before = _prometheus("hookd_attempts_total", outcome="succeeded")
        r = await client.post(EVENTS, json={"type": "job.done", "data": {}})
        assert r.status_code == 202, r.text
        await attempts_ended(spans, 1)

        async def check() -> dict[str, Any] | None:
            now = _prometheus("hookd_attempts_total", outcome="succeeded")
            found = _points(metrics)
            if now < before + 1 or found.get("hookd.attempts", {}).get("succeeded") != now:
                return None
            return found if found.get("hookd.deliveries.pending") == {"": 0} else None

        after = await eventually(check, what="the attempt exported, none pending")
        assert after["hookd.events.ingested"][""] == _prometheus("hookd_events_ingested_total")
        assert after["hookd.deliveries.created"][""] == _prometheus(
            "hookd_deliveries_created_total"
        )
        durations = _prometheus("hookd_attempt_duration_seconds_count")
        assert after["hookd.attempt.duration"][""] == durations >= 1  # the histogram's count
        [duration] = [
            m
            for rm in metrics.exports[-1].resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == "hookd.attempt.duration"
        ]
        [point] = duration.data.data_points
        assert duration.unit == "s"
        assert list(point.explicit_bounds)[:3] == [0.005, 0.01, 0.025]  # type: ignore[union-attr]
        assert sum(point.bucket_counts) == point.count  # type: ignore[union-attr]


def _prometheus(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _points(metrics: Collected) -> dict[str, dict[str, float]]:
    """Return {metric: {its outcome label or '': value (a histogram: its count)}}, last exported."""
    out: dict[str, dict[str, float]] = {}
    if not metrics.exports:
        return out
    for resource in metrics.exports[-1].resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    label = str((point.attributes or {}).get("outcome", ""))
                    value = getattr(point, "value", None)
                    out.setdefault(metric.name, {})[label] = (
                        value if value is not None else point.count  # type: ignore[union-attr]
                    )
    return out


_OFF = textwrap.dedent(
    """
    import asyncio, json, sys
    import httpx
    from hookd.api.app import create_app
    from hookd.config import Settings

    async def main(db, url):
        key = "hk_admin_otel_off_key_0123456789abcdef"
        app = create_app(Settings(db=db, dev=True, admin_key=key, poll_interval=0.05))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://hookd.test",
                headers={"Authorization": f"Bearer {key}"},
            ) as c:
                await c.post("/v1/apps/default/event-types", json={"name": "job.done"})
                await c.post("/v1/apps/default/webhooks",
                             json={"url": url, "events": ["job.done"]})
                r = await c.post("/v1/apps/default/events",
                                 json={"type": "job.done", "data": {}},
                                 headers={"traceparent": sys.argv[3]})
                assert r.status_code == 202, r.text
                for _ in range(400):
                    d = await c.get("/v1/apps/default/deliveries")
                    if d.json()["data"] and d.json()["data"][0]["status"] == "succeeded":
                        break
                    await asyncio.sleep(0.025)
        print(json.dumps(sorted(sys.modules)))

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


_ON_ONLY = ("hookd.otel", "opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.proto")


class TestOff:
    def test_off_no_traceparent_is_sent_and_no_opentelemetry_module_is_loaded(
        self, receiver: Receiver, tmp_path: Any
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HOOKD_"))}
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _OFF,
                f"sqlite:///{tmp_path / 'off.db'}",
                receiver.url,
                TRACEPARENT,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        [request] = receiver.wait_for(1)
        assert "traceparent" not in request.headers
        assert "tracestate" not in request.headers
        loaded = json.loads(done.stdout.strip().splitlines()[-1])
        assert "hookd.api.app" in loaded and "hookd.delivery.worker" in loaded
        # FastAPI itself imports opentelemetry-api (its own, unconfigured telemetry);
        # hookd loads none of the SDK, the exporters or its own OpenTelemetry side.
        assert [m for m in loaded if m.startswith(_ON_ONLY)] == []

    def test_off_unless_an_endpoint_is_set(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SDK_DISABLED"):
            monkeypatch.delenv(name, raising=False)
        assert telemetry.endpoint(Settings()) is None
        assert telemetry.endpoint(Settings(otel_endpoint="http://c:4318")) == "http://c:4318"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://std:4318")
        assert telemetry.endpoint(Settings()) == "http://std:4318"
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        assert telemetry.endpoint(Settings(otel_endpoint="http://c:4318")) is None
