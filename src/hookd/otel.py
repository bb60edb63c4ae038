"""The OpenTelemetry side of hookd/telemetry.py: the SDK, spans, metrics, OTLP/HTTP export.

Imported only once telemetry is on. Spans and attributes:

    hookd.publish  (producer)  hookd.app.id, hookd.event.type, hookd.event.id,
                               hookd.event.duplicate
    hookd.fanout   (internal)  hookd.deliveries, hookd.fanout.deferred
    hookd.attempt  (client)    hookd.webhook.id, hookd.delivery.id, hookd.event.id,
                               hookd.event.type, hookd.app.id, hookd.attempt.number,
                               hookd.attempt.outcome, http.request.method, server.address,
                               http.response.status_code, error.type (the attempt's
                               error code); status ERROR with the error's words

No URL path or query, header, body or secret goes into a span. Metrics mirror
the Prometheus ones of hookd/metrics.py: the counters are read from them when
metrics are exported, so counting costs nothing more on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterable, MutableMapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter

from hookd import __version__
from hookd.metrics import ATTEMPTS, DELIVERIES_CREATED, EVENTS_INGESTED
from hookd.store.events import INLINE_FANOUT

if TYPE_CHECKING:
    from hookd.delivery.sender import Sent
    from hookd.store import Store
    from hookd.store.records import AttemptRecord, Claimed, NewEvent, Published

log = logging.getLogger(__name__)

# hookd_attempt_duration_seconds's buckets (hookd/metrics.py), in seconds too.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# A batch delivery's attempt links to the traces of at most this many of its events.
MAX_LINKS = 32
# The words of an error on a span are cut here.
MAX_ERROR_WORDS = 256

_PROPAGATOR = TraceContextTextMapPropagator()


class Telemetry:
    """One process's tracer and meter, and the work of the facade's functions."""

    def __init__(
        self, tracers: TracerProvider, meters: MeterProvider, *, every: float = 60.0
    ) -> None:
        self._tracers = tracers
        self._meters = meters
        self._tracer = tracers.get_tracer("hookd", __version__)
        meter = meters.get_meter("hookd", __version__)
        self._durations = meter.create_histogram(
            "hookd.attempt.duration",
            unit="s",
            description="Duration of HTTP attempts.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        for name, counter, unit in (
            ("hookd.attempts", ATTEMPTS, "{attempt}"),
            ("hookd.events.ingested", EVENTS_INGESTED, "{event}"),
            ("hookd.deliveries.created", DELIVERIES_CREATED, "{delivery}"),
        ):
            meter.create_observable_counter(
                name, [_reading(counter)], unit=unit, description=counter._documentation
            )
        meter.create_observable_gauge(
            "hookd.deliveries.pending",
            [self._pending_now],
            unit="{delivery}",
            description="Deliveries waiting for an attempt.",
        )
        self._every = every  # seconds between two reads of the pending count
        self._pending: int | None = None
        self._watching: asyncio.Task[None] | None = None

    @classmethod
    def exporting(
        cls, endpoint: str | None, *, service_name: str | None, store: Store | None
    ) -> Telemetry:
        """Export by OTLP/HTTP to `endpoint` (a base URL); None: the OTEL_EXPORTER_OTLP_* ones."""
        name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "hookd"
        resource = Resource.create(
            {
                "service.name": name,
                "service.version": __version__,
                "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
            }
        )
        base = endpoint.rstrip("/") if endpoint else None
        spans = OTLPSpanExporter(endpoint=f"{base}/v1/traces" if base else None)
        tracers = TracerProvider(resource=resource)
        tracers.add_span_processor(BatchSpanProcessor(spans))
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{base}/v1/metrics" if base else None)
        )
        every = float(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "60000")) / 1000
        made = cls(tracers, MeterProvider(resource=resource, metric_readers=[reader]), every=every)
        if store is not None:
            made.watch(store)
        log.info("telemetry: exporting traces and metrics to %s", base or "OTEL_EXPORTER_OTLP_*")
        return made

    @classmethod
    def for_tests(cls, spans: SpanExporter, reader: MetricReader | None) -> Telemetry:
        """Export spans to `spans` as each ends; metrics to `reader` (when given)."""
        tracers = TracerProvider(resource=Resource.create({"service.name": "hookd"}))
        tracers.add_span_processor(SimpleSpanProcessor(spans))
        meters = MeterProvider(metric_readers=[reader] if reader is not None else [])
        return cls(tracers, meters, every=0.05)

    def watch(self, store: Store) -> None:
        """Read the pending count from `store` every so often (for hookd.deliveries.pending)."""
        if self._watching is None:
            self._watching = asyncio.create_task(self._read_pending(store))

    async def unwatch(self) -> None:
        task, self._watching = self._watching, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def shutdown(self) -> None:
        """Stop reading; export what is left (in a thread: the exporters block)."""
        await self.unwatch()
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        self._tracers.shutdown()
        self._meters.shutdown()

    async def publish(
        self,
        app_id: str,
        new: Sequence[NewEvent],
        publish: Callable[[Sequence[NewEvent]], Awaitable[list[Published]]],
        incoming: dict[str, str] | None,
    ) -> list[Published]:
        parent = _PROPAGATOR.extract(incoming) if incoming else None
        spans: list[tuple[trace.Span, trace.Span]] = []
        traced: list[NewEvent] = []
        for item in new:
            span = self._tracer.start_span(
                "hookd.publish",
                parent,
                SpanKind.PRODUCER,
                {"hookd.app.id": app_id, "hookd.event.type": item.type},
            )
            fanout = self._tracer.start_span("hookd.fanout", trace.set_span_in_context(span))
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier, trace.set_span_in_context(fanout))
            traced.append(replace(item, trace_context=orjson.dumps(carrier).decode()))
            spans.append((span, fanout))
        try:
            published = await publish(traced)
        except BaseException as exc:
            for span, fanout in spans:
                for each in (fanout, span):
                    each.record_exception(exc)
                    each.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    each.end()
            raise
        for (span, fanout), done in zip(spans, published, strict=True):
            fanout.set_attribute("hookd.deliveries", done.deliveries)
            fanout.set_attribute("hookd.fanout.deferred", done.deliveries > INLINE_FANOUT)
            fanout.end()
            span.set_attribute("hookd.event.id", done.event.id)
            span.set_attribute("hookd.event.duplicate", done.duplicate)
            span.end()
        return published

    async def attempt(
        self, claimed: Claimed, attempt: Coroutine[Any, Any, tuple[Sent, AttemptRecord]]
    ) -> tuple[Sent, AttemptRecord]:
        delivery, webhook, event = claimed.delivery, claimed.webhook, claimed.event
        parent = _stored(event.trace_context)
        links = [
            Link(trace.get_current_span(found).get_span_context())
            for found in (_stored(e.trace_context) for e in claimed.events[:MAX_LINKS])
            if found is not None
        ]
        attributes: dict[str, str | int] = {
            "hookd.app.id": delivery.app_id,
            "hookd.webhook.id": webhook.id,
            "hookd.delivery.id": delivery.id,
            "hookd.event.id": event.id,
            "hookd.event.type": event.type,
            "hookd.attempt.number": delivery.attempts + 1,
            "http.request.method": webhook.method,
        }
        host = _host(webhook.url)
        if host:
            attributes["server.address"] = host
        with self._tracer.start_as_current_span(
            "hookd.attempt", parent, SpanKind.CLIENT, attributes, links
        ) as span:
            sent, record = await attempt
            done = record.attempt
            if done.response_status is not None:
                span.set_attribute("http.response.status_code", done.response_status)
            span.set_attribute("hookd.attempt.outcome", done.outcome)
            if done.error_code:
                span.set_attribute("error.type", done.error_code)
                words = (done.error_message or done.error_code)[:MAX_ERROR_WORDS]
                span.set_status(Status(StatusCode.ERROR, words))
        self._durations.record(sent.duration_ms / 1000, {"outcome": done.outcome})
        return sent, record

    def stamp(self, headers: MutableMapping[str, str]) -> None:
        if any(name.lower() == "traceparent" for name in headers):
            return  # the webhook sets its own
        _PROPAGATOR.inject(headers)

    async def _read_pending(self, store: Store) -> None:
        while True:
            try:
                self._pending = await store.deliveries.count_pending()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away: the gauge keeps its last reading
                log.debug("telemetry: reading the pending count failed", exc_info=True)
            await asyncio.sleep(self._every)

    def _pending_now(self, options: CallbackOptions) -> Iterable[Observation]:
        if self._pending is not None:
            yield Observation(self._pending)


def _reading(counter: Counter) -> Callable[[CallbackOptions], Iterable[Observation]]:
    """Return a callback that reads a Prometheus counter's current values, by label."""

    def read(options: CallbackOptions) -> Iterable[Observation]:
        for family in counter.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    yield Observation(sample.value, dict(sample.labels))

    return read


def _stored(trace_context: str | None) -> Context | None:
    """Return the context stored with an event (None: none, or unreadable)."""
    if not trace_context:
        return None
    with contextlib.suppress(ValueError):
        carrier = orjson.loads(trace_context)
        if isinstance(carrier, dict):
            found = _PROPAGATOR.extract(carrier)
            if trace.get_current_span(found).get_span_context().is_valid:
                return found
    return None


def _host(url: str) -> str | None:
    if "${" in url:
        return None  # rendered per event: the template is no host
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None
