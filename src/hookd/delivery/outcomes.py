"""Turn a finished attempt into the record that settles its delivery."""

from __future__ import annotations

from hookd import ids
from hookd.delivery.request import OutgoingRequest, loggable_headers
from hookd.delivery.sender import Sent
from hookd.domain.models import Attempt, DeliveryStatus
from hookd.domain.operational import is_operational
from hookd.domain.outcome import Verdict, decide
from hookd.domain.retry import RetryPolicy
from hookd.store.records import AttemptRecord, Claimed

_STATUS = {
    Verdict.SUCCEEDED: DeliveryStatus.SUCCEEDED,
    Verdict.RETRY: DeliveryStatus.PENDING,
    Verdict.FAILED: DeliveryStatus.FAILED,
    Verdict.DISABLE: DeliveryStatus.FAILED,
}


def settle(
    claimed: Claimed,
    request: OutgoingRequest,
    sent: Sent,
    policy: RetryPolicy,
    *,
    now: float,
    retries: bool = True,
) -> AttemptRecord:
    """Decide what follows the attempt and describe it for the store."""
    number = claimed.delivery.attempts + 1
    outcome = decide(sent.result, number, policy, now=now)
    if not retries and outcome.verdict is Verdict.RETRY:
        outcome = type(outcome)(Verdict.FAILED, error=outcome.error)
    attempt = Attempt(
        id=ids.new_id("att", sent.started_at),
        delivery_id=claimed.delivery.id,
        webhook_id=claimed.webhook.id,
        app_id=claimed.delivery.app_id,
        number=number,
        started_at=sent.started_at,
        duration_ms=sent.duration_ms,
        request_method=request.method,
        request_url=request.url,
        request_headers=loggable_headers(request),
        response_status=sent.result.status,
        response_headers=sent.response_headers,
        response_body=sent.response_body,
        error_code=sent.result.error_code
        or (None if outcome.verdict is Verdict.SUCCEEDED else "http_status"),
        error_message=sent.result.error_message or outcome.error,
        outcome=outcome.verdict.value,
    )
    next_at = now + outcome.retry_in if outcome.retry_in is not None else now
    disable = None
    if outcome.verdict is Verdict.DISABLE:
        disable = f"endpoint answered {outcome.error}: the receiver asked not to be called again"
    return AttemptRecord(
        attempt=attempt,
        claim_token=claimed.claim_token,
        status=_STATUS[outcome.verdict],
        next_attempt_at=next_at,
        last_error=outcome.error,
        disable_reason=disable,
        event_id=claimed.event.id,
        event_type=claimed.event.type,
        operational=is_operational(claimed.event.type, claimed.event.idempotency_key),
        ordered=claimed.webhook.ordering == "fifo",
    )
