"""11. OpenTelemetry's cost: delivery throughput with telemetry off and on.

Scenario 1's drain, twice per round: the same backlog (`deliveries` events to
`webhooks` signed webhooks, pre-published while no worker runs) drained by one
`hookd serve` with default settings, once as is (telemetry off) and once with
`HOOKD_OTEL_ENDPOINT` pointing at an OTLP/HTTP receiver in this harness's
process. With telemetry on, the API that pre-publishes traces too, so every
event is stored with its trace context and every attempt is a span exported
with the SDK's default batch settings (BatchSpanProcessor: 512 spans an
export, every 5 s at the latest), and the request carries `traceparent`.
Rounds alternate the order (off, on, then on, off) so a drift in the machine's
load weighs on both. The figure is the mean rate on over the mean rate off
(target ≥ 0.95); CPU per delivery of the delivering processes is given too.
The receiver counts requests and decodes them to count the spans it got.
"""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmarks.api import HookdApi
from benchmarks.context import Bench
from benchmarks.db import sqlite_url
from benchmarks.report import Outcome, Row, Target
from benchmarks.scenarios.throughput import Drained, drain
from benchmarks.stack import start_hookd, start_sink

NAME = "11 otel"


class OtlpReceiver:
    """An OTLP/HTTP endpoint on loopback, in a thread: counts exports and the spans in them.

    A thread, not the harness's event loop: stopping a child blocks that loop,
    and hookd exports its last spans while it stops.
    """

    def __init__(self) -> None:
        self.requests = {"/v1/traces": 0, "/v1/metrics": 0}
        self.spans: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a collector

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                known = receiver.take(self.path, body)
                self.send_response(200 if known else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def take(self, path: str, body: bytes) -> bool:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        if path not in self.requests:
            return False
        with self._lock:
            self.requests[path] += 1
            if path == "/v1/traces":
                for resource in ExportTraceServiceRequest.FromString(body).resource_spans:
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            self.spans[span.name] = self.spans.get(span.name, 0) + 1
        return True


async def measure(bench: Bench, name: str, settings: dict[str, object]) -> Drained:
    """Pre-publish the backlog, then drain it with one `hookd serve`, both with `settings`."""
    sizes = bench.sizes
    db = sqlite_url(bench.workdir(name) / "hookd.db")
    children = bench.children(name)
    with children.scope():
        sink = start_sink(children)
        api = start_hookd(children, db, worker=False, **settings)
        hookd = HookdApi(bench.session, api.url)
        types = [f"bench.e{i}" for i in range(sizes.webhooks)]
        await hookd.one_per_type(sink.url, types)
        owed = await hookd.prepublish(sizes.deliveries, types)
        api.child.stop()
        drained = await drain(bench, sink, owed, [start_hookd(children, db, **settings)], name)
        children.stop_all()  # SIGTERM: telemetry exports what it still holds
    return drained


def _mean(runs: list[Drained]) -> tuple[float, float]:
    return sum(d.rate for d in runs) / len(runs), sum(d.cpu_us for d in runs) / len(runs)


async def run(bench: Bench) -> Outcome:
    receiver = OtlpReceiver().start()
    configs: dict[str, dict[str, object]] = {
        "off": {},
        "on": {"otel_endpoint": receiver.url},  # the default sample ratio
        "all": {"otel_endpoint": receiver.url, "otel_sample_ratio": 1},
    }
    runs: dict[str, list[Drained]] = {key: [] for key in configs}
    rounds = 1 if bench.quick else 2
    try:
        for i in range(rounds):
            order = list(configs) if i % 2 == 0 else list(reversed(configs))
            for key in order:
                runs[key].append(await measure(bench, f"otel-{key}-{i}", configs[key]))
        await asyncio.sleep(0.5)  # the last export's answer
    finally:
        receiver.stop()
    rate_off, cpu_off = _mean(runs["off"])
    outcome = Outcome()
    names = {
        "on": "deliveries/s, telemetry on (defaults)",
        "all": "deliveries/s, on, every event traced",
    }
    for key, figure in names.items():
        rate, _ = _mean(runs[key])
        target = Target("ratio", ">=", 0.95, "≥ 0.95x") if key == "on" else None
        outcome.rows.append(
            Row(f"{NAME} (SQLite)", figure, rate, "/s", rate_off, "hookd, telemetry off", target)
        )
    for key in configs:
        rate, cpu = _mean(runs[key])
        each = ", ".join(f"{d.rate:,.0f}/s ({d.cpu_us:,.0f} µs CPU)" for d in runs[key])
        outcome.details.append(
            f"{key}: {each}; mean {rate:,.0f}/s, ratio {rate / rate_off:.3f},"
            f" CPU per delivery {cpu:,.0f} µs ({(cpu - cpu_off) / cpu_off:+.1%})"
        )
    outcome.details.append(
        f"OTLP receiver: {receiver.requests['/v1/traces']:,} trace exports,"
        f" {receiver.requests['/v1/metrics']:,} metric exports; spans by name: "
        + ", ".join(f"{n} {c:,}" for n, c in sorted(receiver.spans.items()))
        + f" (deliveries: {sum(d.delivered for d in runs['on'] + runs['all']):,} with telemetry on)"
    )
    for line in outcome.details:
        print("   " + line, flush=True)
    return outcome
