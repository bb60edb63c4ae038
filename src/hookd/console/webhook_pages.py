"""The webhooks dashboard, the Create / Edit form, Delete and Send test event."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from hookd.console import stats
from hookd.console.forms import LABELS, WebhookForm, groups, patterns
from hookd.console.pages import ConsoleRoute, Page, PageDep
from hookd.domain.models import App, Webhook
from hookd.domain.roles import Action
from hookd.errors import Conflict, Invalid

router = APIRouter(prefix="/console/apps/{ref}", route_class=ConsoleRoute, include_in_schema=False)

RECENT = 500  # deliveries read per webhook for the dashboard's figures


def base(page: Page, app: App) -> str:
    """The console path of an app (a portal session addresses it by id: its cookie's path)."""
    return f"/console/apps/{app.id if page.session.portal else app.uid}"


async def recent(page: Page, app: App, webhook_id: str, status: str | None = None) -> list:  # type: ignore[type-arg]
    found = await page.rt.deliveries.page(
        app, limit=RECENT, before=None, webhook_id=webhook_id, event_id=None, status=status
    )
    return list(found.items)


@router.get("/webhooks")
async def dashboard(ref: str, page: PageDep) -> Response:
    app = await page.app(ref)
    hooks = (await page.rt.webhooks.page(app, limit=250, after=None)).items
    now = time.time()
    rows = [(w, stats.summary(await recent(page, app, w.id), now)) for w in hooks]
    return page.render(
        "webhooks.html",
        app=app,
        base=base(page, app),
        rows=rows,
        can_change=await page.may(app, Action.CHANGE),
        can_manage=await page.may(app, Action.MANAGE_MEMBERS),
    )


async def _form_page(
    page: Page, app: App, form: WebhookForm, webhook: Webhook | None, status: int = 200
) -> Response:
    types = await page.rt.event_types.all(app)
    return page.render(
        "webhook_form.html",
        http_status=status,
        app=app,
        base=base(page, app),
        form=form,
        webhook=webhook,
        groups=groups(types),
        patterns=patterns(types),
        labels=LABELS,
        dev=page.rt.settings.dev,
    )


@router.get("/webhooks/new")
async def new_webhook(ref: str, page: PageDep) -> Response:
    app = await page.app(ref, Action.CHANGE)
    return await _form_page(page, app, WebhookForm(), None)


@router.post("/webhooks")
async def create_webhook(ref: str, page: PageDep) -> Response:
    app = await page.app(ref, Action.CHANGE)
    form = WebhookForm.posted(await page.form())
    if form.check():
        try:
            webhook = await page.rt.webhooks.create(app, form.fields(creating=True))
        except Invalid as exc:
            form.place(exc.field, _detail(exc))
        else:
            return page.redirect(f"{base(page, app)}/webhooks/{webhook.id}", "Webhook saved")
    return await _form_page(page, app, form, None, status=422)


@router.get("/webhooks/{webhook_id}/edit")
async def edit_webhook(ref: str, webhook_id: str, page: PageDep) -> Response:
    app = await page.app(ref, Action.CHANGE)
    webhook = await page.rt.webhooks.get(app, webhook_id)
    known = {et.name for et in await page.rt.event_types.all(app)} | set(
        patterns(await page.rt.event_types.all(app))
    )
    return await _form_page(page, app, WebhookForm.of(webhook, known), webhook)


@router.post("/webhooks/{webhook_id}")
async def update_webhook(ref: str, webhook_id: str, page: PageDep) -> Response:
    app = await page.app(ref, Action.CHANGE)
    webhook = await page.rt.webhooks.get(app, webhook_id)
    form = WebhookForm.posted(await page.form())
    if form.check():
        try:
            await page.rt.webhooks.update(app, webhook_id, form.fields(creating=False))
        except Invalid as exc:
            form.place(exc.field, _detail(exc))
        else:
            return page.redirect(f"{base(page, app)}/webhooks/{webhook_id}", "Webhook saved")
    return await _form_page(page, app, form, webhook, status=422)


def _detail(exc: Invalid) -> str:
    details = exc.details if isinstance(exc.details, list) else []
    if details and isinstance(details[0], dict) and details[0].get("message"):
        return str(details[0]["message"])
    return exc.message


@router.get("/webhooks/{webhook_id}/delete")
async def confirm_delete(ref: str, webhook_id: str, page: PageDep) -> Response:
    app = await page.app(ref, Action.CHANGE)
    webhook = await page.rt.webhooks.get(app, webhook_id)
    return page.render("delete.html", app=app, base=base(page, app), webhook=webhook)


@router.post("/webhooks/{webhook_id}/delete")
async def delete_webhook(ref: str, webhook_id: str, page: PageDep) -> Response:
    app = await page.app(ref, Action.CHANGE)
    await page.form()
    webhook = await page.rt.webhooks.get(app, webhook_id)
    await page.rt.webhooks.delete(app, webhook_id)
    return page.redirect(f"{base(page, app)}/webhooks", f"Webhook “{webhook.name}” deleted")


@router.post("/webhooks/{webhook_id}/test")
async def send_test(ref: str, webhook_id: str, page: PageDep) -> Response:
    """Send the sample event now and show the answer (in place with htmx, else on a page)."""
    app = await page.app(ref, Action.CHANGE)
    await page.form()
    webhook = await page.rt.webhooks.get(app, webhook_id)
    detail = await page.rt.deliveries.test(app, webhook, None)
    attempt = detail.attempts[-1] if detail.attempts else None
    context: dict[str, Any] = {
        "app": app,
        "base": base(page, app),
        "webhook": webhook,
        "attempt": attempt,
    }
    if page.request.headers.get("HX-Request") == "true":
        return page.render("_test_result.html", **context)
    return page.render("test_result.html", **context)


@router.post("/webhooks/{webhook_id}/rotate-secret")
async def rotate_secret(ref: str, webhook_id: str, page: PageDep) -> Response:
    """Issue a new secret and show it once (the old one signs beside it for a day)."""
    app = await page.app(ref, Action.CHANGE)
    await page.form()
    webhook = await page.rt.webhooks.rotate_secret(
        app, webhook_id, secret=None, grace_seconds=86400
    )
    return page.render("secret.html", app=app, base=base(page, app), webhook=webhook)


__all__ = ["Conflict", "base", "recent", "router"]
