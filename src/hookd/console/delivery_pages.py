"""A webhook's detail: its deliveries and chart, each delivery's attempt log, Retry, Recover."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.responses import Response

from hookd.console import stats
from hookd.console.pages import ConsoleRoute, PageDep
from hookd.console.webhook_pages import base, recent
from hookd.domain.models import MASK, Attempt, Webhook
from hookd.domain.roles import Action
from hookd.domain.secrets import is_secret_header
from hookd.errors import Invalid
from hookd.service.deliveries import STATUSES
from hookd.service.recovery import RecoveryService, Window

router = APIRouter(prefix="/console/apps/{ref}", route_class=ConsoleRoute, include_in_schema=False)


@router.get("/webhooks/{webhook_id}")
async def webhook_detail(ref: str, webhook_id: str, page: PageDep, status: str = "") -> Response:
    app = await page.app(ref)
    webhook = await page.rt.webhooks.get(app, webhook_id)
    if status and status not in STATUSES:
        raise Invalid("status", f"must be one of {', '.join(STATUSES)}")
    now = time.time()
    every = await recent(page, app, webhook_id)
    shown = [d for d in every if d.status == status] if status else every
    return page.render(
        "webhook_detail.html",
        app=app,
        base=base(page, app),
        webhook=webhook,
        deliveries=shown[:100],
        status=status,
        statuses=STATUSES,
        summary=stats.summary(every, now),
        chart=stats.hourly(every, now),
        result_words=stats.result_words,
        can_change=await page.may(app, Action.CHANGE),
        since_default=datetime.fromtimestamp(now - 86400, UTC).strftime("%Y-%m-%dT%H:%M"),
    )


def masked(attempt: Attempt, webhook: Webhook | None) -> dict[str, str]:
    """Request headers as logged (secrets already masked), masking the webhook's secret ones."""
    listed = webhook.secret_headers if webhook else ()
    return {
        k: MASK if is_secret_header(k, listed) else v for k, v in attempt.request_headers.items()
    }


@router.get("/deliveries/{delivery_id}")
async def delivery_detail(ref: str, delivery_id: str, page: PageDep) -> Response:
    app = await page.app(ref)
    detail = await page.rt.deliveries.get(app, delivery_id)
    webhook = await page.rt.webhooks.get(app, detail.delivery.webhook_id)
    return page.render(
        "delivery.html",
        app=app,
        base=base(page, app),
        webhook=webhook,
        delivery=detail.delivery,
        attempts=[(a, masked(a, webhook)) for a in reversed(detail.attempts)],
        result=stats.result_words(detail.delivery),
        can_change=await page.may(app, Action.CHANGE),
    )


@router.post("/deliveries/{delivery_id}/retry")
async def retry_delivery(ref: str, delivery_id: str, page: PageDep) -> Response:
    app = await page.app(ref, Action.CHANGE)
    await page.form()
    await page.rt.deliveries.retry(app, delivery_id)
    return page.redirect(
        f"{base(page, app)}/deliveries/{delivery_id}", "Delivery queued to be sent again"
    )


@router.post("/webhooks/{webhook_id}/recover")
async def recover(ref: str, webhook_id: str, page: PageDep) -> Response:
    """Send again every failed delivery of the webhook created since the time given."""
    app = await page.app(ref, Action.CHANGE)
    form = await page.form()
    target = f"{base(page, app)}/webhooks/{webhook_id}"
    try:
        since = datetime.fromisoformat(str(form.get("since", ""))).replace(tzinfo=UTC)
    except ValueError:
        page.session.say("Enter the time to recover from, as date and time (UTC)", "error")
        return page.redirect(target)
    try:
        window = Window(since.timestamp(), None, now=time.time())
    except Invalid:
        page.session.say("The time to recover from must be in the past", "error")
        return page.redirect(target)
    count = await RecoveryService(page.rt.store).recover(app, webhook_id, window)
    word = "delivery" if count == 1 else "deliveries"
    return page.redirect(target, f"{count} failed {word} queued to be sent again")
