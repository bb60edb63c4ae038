"""Every route inside an app passes through the one enforcement point.

A route under `/v1/apps/{app}` must declare the app through one of the
`…AppDep`s of api/deps.py (each calls `Auth.app` with its action), or be one
of the few listed here, whose service calls `Auth.app` itself. A new route
that does neither fails this test.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from hookd.api.app import create_app
from hookd.config import Settings

# Routes whose service checks the caller itself (PeopleService calls Auth.app).
CHECKED_BY_THEIR_SERVICE = {"list_app_members", "set_app_member", "remove_app_member"}


def _calls(dependant: Dependant) -> set[str]:
    found = set()
    for sub in dependant.dependencies:
        if sub.call is not None:
            found.add(getattr(sub.call, "__qualname__", ""))
        found |= _calls(sub)
    return found


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            yield from _api_routes(included.routes)


def test_every_app_route_declares_the_app_through_the_enforcement_point() -> None:
    app = create_app(Settings(db="sqlite:///:memory:"))
    routes = [r for r in _api_routes(app.routes) if r.path.startswith("/v1/apps/{app}")]
    assert len(routes) > 30
    unchecked = [
        f"{sorted(r.methods)} {r.path}"
        for r in routes
        if r.name not in CHECKED_BY_THEIR_SERVICE
        and not any("_app_for" in call for call in _calls(r.dependant))
    ]
    assert unchecked == []
