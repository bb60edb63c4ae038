"""One attempt of one claimed delivery: render → send → settle.

The worker and test sends both go through here, so a test send is exactly
what a real delivery would have been.

No input may make a delivery un-finishable: whatever goes wrong while
preparing or sending it becomes a failed attempt with words for it, which
then follows the retry policy and counts toward the webhook's health like
any other failure:

    a template fault (its error, its time limit, nesting)   template_error
    anything else (a bug in hookd)                          internal_error, logged once
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial

from hookd import ids, telemetry
from hookd.delivery import rendering
from hookd.delivery.outcomes import settle
from hookd.delivery.request import (
    OutgoingRequest,
    RenderError,
    System,
    build_batch_request,
    build_request,
    needs_rendering,
)
from hookd.delivery.sender import Sender, Sent
from hookd.domain.models import Attempt, DeliveryStatus
from hookd.domain.outcome import AttemptResult
from hookd.domain.retry import RetryPolicy
from hookd.store.records import AttemptRecord, Claimed

__all__ = ["BIG_BATCH", "attempt", "fallback_record", "render"]

log = logging.getLogger(__name__)

# Batches carrying more events than this are built in a thread too.
BIG_BATCH = 100


async def render(claimed: Claimed, system: System, now: float) -> OutgoingRequest:
    """Build the request: templates in a render process (rendering.py), big batches in a thread."""
    build = _builder(claimed, system, now)
    if needs_rendering(claimed.webhook):
        return await rendering.render(build, claimed.delivery.app_id, system)
    if len(claimed.events) > BIG_BATCH:
        return await asyncio.to_thread(build)
    return build()


def _builder(claimed: Claimed, system: System, now: float) -> Callable[[], OutgoingRequest]:
    webhook, event = claimed.webhook, claimed.event
    if claimed.delivery.kind == "batch":
        return partial(
            build_batch_request,
            webhook,
            claimed.delivery.id,
            claimed.events,
            now=now,
            system=system,
        )
    if webhook.mode == "queued":
        # A lone event for a queued webhook (a test send) takes the shape its receiver expects.
        return partial(build_batch_request, webhook, event.id, (event,), now=now, system=system)
    return partial(build_request, webhook, event, now=now, system=system)


async def attempt(
    claimed: Claimed,
    sender: Sender,
    policy: RetryPolicy,
    system: System,
    *,
    retries: bool = True,
) -> tuple[Sent, AttemptRecord]:
    """Make one attempt and return what was sent and the record that settles it."""
    if telemetry.ON:
        return await telemetry.traced_attempt(
            claimed, partial(_attempt, claimed, sender, policy, system, retries)
        )
    return await _attempt(claimed, sender, policy, system, retries)


async def _attempt(
    claimed: Claimed,
    sender: Sender,
    policy: RetryPolicy,
    system: System,
    retries: bool,
    trace: dict[str, str] | None = None,  # traceparent, tracestate (hookd/telemetry.py)
) -> tuple[Sent, AttemptRecord]:
    now = time.time()
    request = _unsent(claimed)
    try:
        request = await render(claimed, system, now)
    except RenderError as exc:
        sent = _not_sent(now, "template_error", str(exc))
    except (RecursionError, MemoryError) as exc:
        # Only templates nest or grow without bound here: the template is at fault.
        sent = _not_sent(now, "template_error", rendering.fault_words(exc))
    except Exception as exc:
        sent = _not_sent(now, "internal_error", _bug(claimed, "preparing the request", exc))
    else:
        try:
            if trace:
                telemetry.stamp(request.headers, trace)
            sent = await sender.send(request)
        except Exception as exc:
            sent = _not_sent(now, "internal_error", _bug(claimed, "sending the request", exc))
    record = settle(claimed, request, sent, policy, now=time.time(), retries=retries)
    record.batch = claimed.delivery.kind == "batch"
    return sent, record


def fallback_record(claimed: Claimed, policy: RetryPolicy, message: str) -> AttemptRecord:
    """Return a failed attempt built without `settle`, for when even settling failed.

    Kept as plain as it can be so that a delivery still finishes (or waits for
    its next attempt) rather than being re-claimed at every lease's end.
    """
    now = time.time()
    number = claimed.delivery.attempts + 1
    delay = policy.delay_after(number)
    webhook = claimed.webhook
    return AttemptRecord(
        attempt=Attempt(
            id=ids.new_id("att", now),
            delivery_id=claimed.delivery.id,
            webhook_id=webhook.id,
            app_id=claimed.delivery.app_id,
            number=number,
            started_at=now,
            duration_ms=0.0,
            request_method=webhook.method,
            request_url=webhook.url,
            request_headers={},
            response_status=None,
            response_headers={},
            response_body="",
            error_code="internal_error",
            error_message=message,
            outcome="retry" if delay is not None else "failed",
        ),
        claim_token=claimed.claim_token,
        status=DeliveryStatus.PENDING if delay is not None else DeliveryStatus.FAILED,
        next_attempt_at=now + (delay or 0.0),
        last_error=message,
        batch=claimed.delivery.kind == "batch",
        event_id=claimed.event.id,
        event_type=claimed.event.type,
    )


def _unsent(claimed: Claimed) -> OutgoingRequest:
    """Return what the attempt log shows for a request that was never built."""
    return OutgoingRequest(claimed.webhook.method, claimed.webhook.url, {}, b"")


def _not_sent(now: float, code: str, message: str) -> Sent:
    return Sent(AttemptResult(None, code, message), now, (time.time() - now) * 1000)


def _bug(claimed: Claimed, doing: str, exc: Exception) -> str:
    """Log a bug once with its traceback (no request, so no secrets); return words for users."""
    log.error(
        "delivery %s (webhook %s): %s failed: %s",
        claimed.delivery.id,
        claimed.webhook.id,
        doing,
        type(exc).__name__,
        exc_info=exc,
    )
    return f"hookd failed while {doing} ({type(exc).__name__}); the error is in hookd's log"
