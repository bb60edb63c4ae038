"""One attempt of one claimed delivery: render → send → settle.

The worker and test sends both go through here, so a test send is exactly
what a real delivery would have been.
"""

from __future__ import annotations

import asyncio
import time

from hookd.delivery.outcomes import settle
from hookd.delivery.request import (
    OutgoingRequest,
    RenderError,
    System,
    build_request,
    needs_rendering,
)
from hookd.delivery.sender import Sender, Sent
from hookd.domain.outcome import AttemptResult
from hookd.domain.retry import RetryPolicy
from hookd.store.records import AttemptRecord, Claimed


async def render(claimed: Claimed, system: System, now: float) -> OutgoingRequest:
    """Build the request; templates render in a thread so a slow one cannot stall the loop."""
    if needs_rendering(claimed.webhook):
        return await asyncio.to_thread(
            build_request, claimed.webhook, claimed.event, now=now, system=system
        )
    return build_request(claimed.webhook, claimed.event, now=now, system=system)


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
    return sent, settle(claimed, request, sent, policy, now=time.time(), retries=retries)
