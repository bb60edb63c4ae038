"""`hookd serve` exports its traces and metrics to a real OTLP/HTTP receiver on loopback.

The receiver is a small HTTP server taking `POST /v1/traces` and `/v1/metrics`
and decoding their protobuf bodies with opentelemetry-proto, as a collector
would. hookd runs as in production: its API process and its delivery process.
"""

from __future__ import annotations

import gzip
import signal
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.acceptance.conftest import create_webhook
from tests.support.polling import eventually_sync
from tests.support.receiver import Receiver
from tests.support.server import HookdProcess

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


class OtlpSink:
    """Accept OTLP/HTTP protobuf exports; keep every span and metric name received."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {"/v1/traces": 0, "/v1/metrics": 0}
        self.spans: list[dict[str, Any]] = []
        self.metrics: set[str] = set()
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if not sink.take(self.path, self.headers.get("content-type", ""), body):
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def take(self, path: str, content_type: str, body: bytes) -> bool:
        if path not in self.requests or content_type != "application/x-protobuf":
            return False
        with self._lock:
            self.requests[path] += 1
            if path == "/v1/traces":
                traces = ExportTraceServiceRequest.FromString(body)
                for resource in traces.resource_spans:
                    service = {a.key: a.value.string_value for a in resource.resource.attributes}
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            self.spans.append(_span(span, service))
            else:
                metrics = ExportMetricsServiceRequest.FromString(body)
                for resource in metrics.resource_metrics:
                    for scope in resource.scope_metrics:
                        self.metrics.update(m.name for m in scope.metrics)
        return True

    def named(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [s for s in self.spans if s["name"] == name]

    def __enter__(self) -> OtlpSink:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _span(span: Any, service: dict[str, str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for a in span.attributes:
        kind = a.value.WhichOneof("value")
        attributes[a.key] = getattr(a.value, kind) if kind else None
    return {
        "name": span.name,
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent": span.parent_span_id.hex() or None,
        "attributes": attributes,
        "status": span.status.code,
        "service": service,
    }


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    with OtlpSink() as s:
        yield s


def test_hookd_serve_exports_the_event_trace_and_the_metrics_over_otlp_http(
    hookd_factory: Callable[..., HookdProcess], sink: OtlpSink, receiver: Receiver
) -> None:
    hookd = hookd_factory(otel_endpoint=sink.url, delivery_processes=2)
    hookd.env["OTEL_BSP_SCHEDULE_DELAY"] = "100"  # export spans every 0.1 s, metrics 0.3 s
    hookd.env["OTEL_METRIC_EXPORT_INTERVAL"] = "300"
    hookd.env["OTEL_SERVICE_NAME"] = "hookd-under-test"
    hookd.start()
    with hookd.client() as api:
        create_webhook(api, receiver.url)
        r = api.post(
            "/v1/apps/default/events",
            json={"type": "job.success", "data": {"n": 1}},
            headers={"traceparent": TRACEPARENT},
        )
        assert r.status_code == 202, r.text
        event_id = r.json()["id"]
        [request] = receiver.wait_for(1)
        assert request.headers["traceparent"].split("-")[1] == TRACE_ID

        def exported() -> list[dict[str, Any]] | None:
            found = [s for s in sink.named("hookd.attempt") if s["trace_id"] == TRACE_ID]
            return found or None

        [attempt] = eventually_sync(exported, what="the attempt span exported")
        [publish] = [s for s in sink.named("hookd.publish") if s["trace_id"] == TRACE_ID]
        [fanout] = [s for s in sink.named("hookd.fanout") if s["trace_id"] == TRACE_ID]
        assert publish["parent"] == "b7ad6b7169203331"
        assert fanout["parent"] == publish["span_id"]
        assert attempt["parent"] == fanout["span_id"]
        assert request.headers["traceparent"].split("-")[2] == attempt["span_id"]
        assert attempt["attributes"]["http.response.status_code"] == 200
        assert attempt["attributes"]["hookd.event.id"] == event_id
        assert attempt["service"]["service.name"] == "hookd-under-test"

        def metrics() -> bool:
            wanted = {"hookd.attempts", "hookd.events.ingested", "hookd.attempt.duration"}
            return wanted <= sink.metrics and "hookd.deliveries.pending" in sink.metrics

        eventually_sync(metrics, what=f"hookd's metrics exported (got {sink.metrics})")
    assert hookd.stop() in (0, -signal.SIGTERM), hookd.output()  # uvicorn re-raises it
    assert "Traceback" not in hookd.output()
    assert sink.requests["/v1/traces"] >= 1 and sink.requests["/v1/metrics"] >= 1
