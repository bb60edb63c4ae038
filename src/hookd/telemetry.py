"""OpenTelemetry traces and metrics: off (and never imported) unless an OTLP endpoint is set.

This module is the facade the hot paths call; it imports nothing of
OpenTelemetry. `start` turns telemetry on when `HOOKD_OTEL_ENDPOINT` or
`OTEL_EXPORTER_OTLP_ENDPOINT` is set, and only then imports hookd/otel.py
(the SDK, the OTLP/HTTP exporters). Callers test `telemetry.ON` first, so
with telemetry off a publish or an attempt costs one attribute read more.

    publisher's span (a `traceparent` header on the publish, if any)
      └─ hookd.publish            one per event, in the API process
           └─ hookd.fanout        storing the event with its deliveries
                └─ hookd.attempt  one per attempt, in whichever process delivers,
                                  later: parented by the context stored with the event

The outgoing request of an attempt carries the attempt span's `traceparent`
(and `tracestate`), so the receiver joins the publisher's trace. Only a share of
the events published without a sampled `traceparent` is traced
(HOOKD_OTEL_SAMPLE_RATIO); the others' requests carry their unsampled context.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hookd.config import Settings
    from hookd.delivery.sender import Sent
    from hookd.store import Store
    from hookd.store.records import AttemptRecord, Claimed, NewEvent, Published

__all__ = [
    "ON",
    "endpoint",
    "received",
    "shutdown",
    "stamp",
    "start",
    "traced_attempt",
    "traced_publish",
    "use_for_tests",
]

ON = False  # telemetry is on in this process
_impl: Any = None  # hookd.otel.Telemetry while ON
_owned = False  # started by `start` (so `shutdown` ends it), not by a test

# The trace headers of the request being served (W3C trace context), set by
# `received` in the publish request's own task.
_incoming: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "hookd_trace_headers", default=None
)


def endpoint(settings: Settings) -> str | None:
    """Return where telemetry goes: HOOKD_OTEL_ENDPOINT, else the standard variable; None: off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    return settings.otel_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None


def start(settings: Settings, store: Store | None = None) -> bool:
    """Turn telemetry on if an endpoint is configured (once per process); tell whether it is on."""
    global ON, _impl, _owned
    if ON:  # a test turned it on
        if store is not None:
            _impl.watch(store)
        return True
    where = endpoint(settings)
    if where is None:
        return False
    from hookd import otel  # only now: with telemetry off, no OpenTelemetry module is loaded

    _impl = otel.Telemetry.exporting(
        settings.otel_endpoint,
        service_name=settings.otel_service_name,
        sample_ratio=settings.otel_sample_ratio,
        store=store,
    )
    _owned = ON = True
    return True


async def shutdown() -> None:
    """Export what is left and turn telemetry off, if `start` turned it on."""
    global ON, _impl, _owned
    if not ON:
        return
    if not _owned:  # a test's: it ends it
        await _impl.unwatch()
        return
    impl, _impl, ON, _owned = _impl, None, False, False
    await impl.shutdown()


def use_for_tests(
    span_exporter: Any, metric_exporter: Any = None, *, sample_ratio: float = 1.0
) -> Callable[[], None]:
    """Turn telemetry on with these SDK exporters (spans as they end); return an undo."""
    global ON, _impl, _owned
    from hookd import otel

    _impl = otel.Telemetry.for_tests(span_exporter, metric_exporter, sample_ratio)
    ON, _owned = True, False

    def undo() -> None:
        global ON, _impl
        if _impl is not None:
            _impl.close()
        ON, _impl = False, None

    return undo


def received(headers: Mapping[bytes, bytes]) -> None:
    """Remember the request's `traceparent` / `tracestate` for the publish it makes."""
    parent = headers.get(b"traceparent")
    if parent is None:
        _incoming.set(None)
        return
    found = {"traceparent": parent.decode("latin-1")}
    state = headers.get(b"tracestate")
    if state is not None:
        found["tracestate"] = state.decode("latin-1")
    _incoming.set(found)


async def traced_publish(
    app_id: str,
    new: Sequence[NewEvent],
    publish: Callable[[Sequence[NewEvent]], Awaitable[list[Published]]],
) -> list[Published]:
    """Publish `new` through `publish` inside spans, each event stored with its trace context."""
    result: list[Published] = await _impl.publish(app_id, new, publish, _incoming.get())
    return result


async def traced_attempt(
    claimed: Claimed, run: Callable[[dict[str, str]], Awaitable[tuple[Sent, AttemptRecord]]]
) -> tuple[Sent, AttemptRecord]:
    """Run one attempt in its span, a child of the context stored with its event.

    `run` is given the trace headers its request carries (see `stamp`).
    """
    result: tuple[Sent, AttemptRecord] = await _impl.attempt(claimed, run)
    return result


def stamp(headers: MutableMapping[str, str], trace: Mapping[str, str]) -> None:
    """Add `traceparent` (and `tracestate`) to a request (none when its webhook sets its own)."""
    headers.update(trace)


def preload() -> None:
    """Import the OpenTelemetry side now if it will be used (before the collector freezes)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return
    if os.environ.get("HOOKD_OTEL_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from hookd import otel  # noqa: F401
