"""The web console at /console: pages over the same services and rules as the API.

console/
  pages.py          what every page shares: the caller, CSRF, errors as pages
  session.py        the signed session cookies (users, portal links)
  auth_pages.py     Sign in, Sign out, home, opening a portal link
  webhook_pages.py  the webhooks dashboard, Create / Edit, Delete, Send test event
  delivery_pages.py a webhook's deliveries and chart, attempt logs, Retry, Recover
  team_pages.py     the event catalog, members, portal links
  forms.py, stats.py  the webhook form; the dashboard's figures (pure)
  templates/ static/  one Jinja2 template per page; one CSS file and vendored htmx
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from hookd.console import auth_pages, delivery_pages, org_pages, team_pages, webhook_pages
from hookd.console.pages import HERE

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Mount the console's pages and static files on the API app."""
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    # The webhook form's fixed paths (/webhooks/new) come before /webhooks/{id}.
    for module in (auth_pages, webhook_pages, delivery_pages, team_pages, org_pages):
        app.include_router(module.router)
