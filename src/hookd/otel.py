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
import logging
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import Counter
from prometheus_client import Histogram as PrometheusHistogram

from hookd import __version__
from hookd.metrics import ATTEMPT_SECONDS, ATTEMPTS, DELIVERIES_CREATED, EVENTS_INGESTED
from hookd.store.events import INLINE_FANOUT

if TYPE_CHECKING:
    from hookd.delivery.sender import Sent
    from hookd.store import Store
    from hookd.store.records import AttemptRecord, Claimed, NewEvent, Published

log = logging.getLogger(__name__)

# A batch delivery's attempt links to the traces of at most this many of its events.
MAX_LINKS = 32
# The words of an error on a span are cut here.
MAX_ERROR_WORDS = 256

_PROPAGATOR = TraceContextTextMapPropagator()
_HEADERS = ("traceparent", "tracestate")
# The trace context of an event that came without one and that the sampler left out:
# its attempts make no span and send no traceparent.
UNTRACED = ""
# What an attempt gives back: what was sent, and the record that settles it.
Attempted = tuple["Sent", "AttemptRecord"]


class Telemetry:
    """One process's tracer and meter, and the work of the facade's functions."""

    def __init__(
        self, tracers: TracerProvider, meters: MeterProvider, *, every: float = 60.0
    ) -> None:
        self._tracers = tracers
        self._meters = meters
        self._tracer = tracers.get_tracer("hookd", __version__)
        meter = meters.get_meter("hookd", __version__)
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
        cls,
        endpoint: str | None,
        *,
        service_name: str | None,
        sample_ratio: float,
        store: Store | None,
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
        tracers = TracerProvider(resource=resource, sampler=_sampler(sample_ratio))
        tracers.add_span_processor(BatchSpanProcessor(spans))
        reader = PeriodicExportingMetricReader(
            WithHistograms(OTLPMetricExporter(endpoint=f"{base}/v1/metrics" if base else None))
        )
        every = float(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "60000")) / 1000
        made = cls(tracers, MeterProvider(resource=resource, metric_readers=[reader]), every=every)
        if store is not None:
            made.watch(store)
        log.info("telemetry: exporting traces and metrics to %s", base or "OTEL_EXPORTER_OTLP_*")
        return made

    @classmethod
    def for_tests(
        cls, spans: SpanExporter, metrics: MetricExporter | None, sample_ratio: float
    ) -> Telemetry:
        """Export spans to `spans` as each ends; metrics to `metrics` every 50 ms (if given)."""
        sampler = ParentBased(TraceIdRatioBased(sample_ratio)) if sample_ratio < 1 else ALWAYS_ON
        tracers = TracerProvider(
            resource=Resource.create({"service.name": "hookd"}), sampler=sampler
        )
        tracers.add_span_processor(SimpleSpanProcessor(spans))
        readers: list[MetricReader] = []
        if metrics is not None:
            readers.append(
                PeriodicExportingMetricReader(WithHistograms(metrics), export_interval_millis=50)
            )
        return cls(tracers, MeterProvider(metric_readers=readers), every=0.05)

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
            if incoming or fanout.is_recording():
                carrier: dict[str, str] = {}
                _PROPAGATOR.inject(carrier, trace.set_span_in_context(fanout))
                context = orjson.dumps(carrier).decode()
            else:
                context = UNTRACED  # hookd's own trace, not sampled: nothing to pass on
            traced.append(replace(item, trace_context=context))
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
        self, claimed: Claimed, run: Callable[[dict[str, str]], Awaitable[Attempted]]
    ) -> Attempted:
        delivery, webhook, event = claimed.delivery, claimed.webhook, claimed.event
        if event.trace_context == UNTRACED:
            return await run({})
        stored = _carrier(event.trace_context)
        own = bool(webhook.headers) and _sets_traceparent(webhook.headers)  # it wins
        if stored is not None and not _sampled(stored["traceparent"]):
            # Not traced (so the sampler said at publish): no span, the context goes on.
            return await run({} if own else stored)
        links = [
            Link(trace.get_current_span(_PROPAGATOR.extract(found)).get_span_context())
            for found in (_carrier(e.trace_context) for e in claimed.events[:MAX_LINKS])
            if found is not None
        ]
        attributes: dict[str, str | int] = {
            "hookd.webhook.id": webhook.id,
            "hookd.delivery.id": delivery.id,
            "hookd.event.id": event.id,
            "hookd.attempt.number": delivery.attempts + 1,
        }
        host = _host(webhook.url)
        if host:
            attributes["server.address"] = host
        parent = _PROPAGATOR.extract(stored) if stored is not None else None
        span = self._tracer.start_span("hookd.attempt", parent, SpanKind.CLIENT, attributes, links)
        headers: dict[str, str] = {}
        if not own:
            _PROPAGATOR.inject(headers, trace.set_span_in_context(span))
        try:
            sent, record = await run(headers)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise
        done = record.attempt
        if done.response_status is not None:
            span.set_attribute("http.response.status_code", done.response_status)
        span.set_attribute("hookd.attempt.outcome", done.outcome)
        if done.error_code:
            span.set_attribute("error.type", done.error_code)
            words = (done.error_message or done.error_code)[:MAX_ERROR_WORDS]
            span.set_status(Status(StatusCode.ERROR, words))
        span.end()
        return sent, record

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


class WithHistograms(MetricExporter):
    """Export what the SDK collected plus the Prometheus histograms, read when exporting.

    The SDK has no asynchronous histogram, and recording each attempt's duration
    in one costs ~6 µs an attempt; Prometheus observes it anyway (worker.py).
    """

    def __init__(self, inner: MetricExporter) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self._inner = inner

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        added = [_histogram("hookd.attempt.duration", ATTEMPT_SECONDS)]
        return self._inner.export(_adding(metrics_data, added), timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._inner.shutdown(timeout_millis, **kwargs)


def _histogram(name: str, histogram: PrometheusHistogram) -> Metric:
    """Return a Prometheus histogram (without labels) as an OpenTelemetry one, cumulative."""
    bounds: list[float] = []
    cumulative: list[float] = []
    count, total, created = 0.0, 0.0, time.time()
    [family] = histogram.collect()
    for sample in family.samples:
        if sample.name.endswith("_bucket"):
            upper = float(sample.labels["le"])
            if upper != math.inf:
                bounds.append(upper)
            cumulative.append(sample.value)
        elif sample.name.endswith("_count"):
            count = sample.value
        elif sample.name.endswith("_sum"):
            total = sample.value
        elif sample.name.endswith("_created"):
            created = sample.value
    counts = [int(c - b) for b, c in zip([0.0, *cumulative], cumulative, strict=False)]
    point = HistogramDataPoint(
        attributes={},
        start_time_unix_nano=int(created * 1e9),
        time_unix_nano=time.time_ns(),
        count=int(count),
        sum=total,
        bucket_counts=counts,
        explicit_bounds=bounds,
        # Prometheus keeps no extremes: left out of the export (None: not set).
        min=None,  # type: ignore[arg-type]
        max=None,  # type: ignore[arg-type]
    )
    return Metric(
        name, family.documentation, "s", Histogram([point], AggregationTemporality.CUMULATIVE)
    )


def _adding(data: MetricsData, added: list[Metric]) -> MetricsData:
    """Return `data` with `added` in hookd's scope of its first resource."""
    if not data.resource_metrics:
        return data
    first, *rest = data.resource_metrics
    scopes = list(first.scope_metrics)
    for i, scope in enumerate(scopes):
        if scope.scope.name == "hookd":
            scopes[i] = ScopeMetrics(scope.scope, [*scope.metrics, *added], scope.schema_url)
            break
    else:
        scopes.append(ScopeMetrics(InstrumentationScope("hookd", __version__), added, ""))
    return MetricsData([ResourceMetrics(first.resource, scopes, first.schema_url), *rest])


def _sets_traceparent(headers: Mapping[str, str]) -> bool:
    return any(name.lower() == "traceparent" for name in headers)


def _sampler(ratio: float) -> Sampler | None:
    """Trace `ratio` of the traces hookd starts, all a sampled parent asks for.

    None when OTEL_TRACES_SAMPLER is set: the SDK reads it (and OTEL_TRACES_SAMPLER_ARG).
    """
    if os.environ.get("OTEL_TRACES_SAMPLER"):
        return None
    return ParentBased(TraceIdRatioBased(ratio))


def _reading(counter: Counter) -> Callable[[CallbackOptions], Iterable[Observation]]:
    """Return a callback that reads a Prometheus counter's current values, by label."""

    def read(options: CallbackOptions) -> Iterable[Observation]:
        for family in counter.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    yield Observation(sample.value, dict(sample.labels))

    return read


def _carrier(trace_context: str | None) -> dict[str, str] | None:
    """Return the trace headers stored with an event (None: none, or unreadable)."""
    if not trace_context:
        return None
    try:
        carrier = orjson.loads(trace_context)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(carrier, dict) or not isinstance(carrier.get("traceparent"), str):
        return None
    return {k: v for k, v in carrier.items() if k in _HEADERS and isinstance(v, str)}


def _sampled(traceparent: str) -> bool:
    """Tell whether a W3C traceparent says its trace is sampled (a bad one: not)."""
    flags = traceparent[53:55] if len(traceparent) >= 55 else ""
    try:
        return bool(int(flags, 16) & 1)
    except ValueError:
        return False


@lru_cache(maxsize=1024)
def _host(url: str) -> str | None:
    if "${" in url:
        return None  # rendered per event: the template is no host
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None
