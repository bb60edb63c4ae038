"""One attempt of one claimed delivery: render → send → settle.

The worker and test sends both go through here, so a test send is exactly
what a real delivery would have been.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial

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
from hookd.domain.outcome import AttemptResult
from hookd.domain.retry import RetryPolicy
from hookd.store.records import AttemptRecord, Claimed

# Batches carrying more events than this are built in a thread too.
BIG_BATCH = 100


async def render(claimed: Claimed, system: System, now: float) -> OutgoingRequest:
    """Build the request; templates and big batches build in a thread, not on the loop."""
    build = _builder(claimed, system, now)
    if needs_rendering(claimed.webhook) or len(claimed.events) > BIG_BATCH:
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
    now = time.time()
    try:
        request = await render(claimed, system, now)
    except RenderError as exc:
        request = OutgoingRequest(claimed.webhook.method, claimed.webhook.url, {}, b"")
        sent = Sent(AttemptResult(None, "template_error", str(exc)), now, 0.0)
    else:
        sent = await sender.send(request)
    record = settle(claimed, request, sent, policy, now=time.time(), retries=retries)
    record.batch = claimed.delivery.kind == "batch"
    return sent, record
