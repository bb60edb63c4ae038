"""Map errors to `{"error": {"code", "message", "details"}}`; bad input is never a 500.

HookdError, validation, HTTP errors ──handlers──▶ 4xx JSON
database unreachable (any route, the publish fast path) ──LastResort──▶ 503 + Retry-After
anything else ──LastResort──▶ 500 `internal_error`, logged once with its traceback
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookd.domain import jsonlimits
from hookd.errors import HookdError
from hookd.metrics import DATABASE_ERRORS
from hookd.outage import OUTAGE, unavailable

log = logging.getLogger(__name__)

RETRY_AFTER = 5  # seconds a client should wait before trying again while the database is down


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status
    )


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "body"


def _where(error: Any) -> str:
    """Name the field of a validation error, down into JSON values (`data.items[3]`)."""
    field = _field(tuple(error["loc"]))
    inner = (error.get("ctx") or {}).get("path") if error.get("type") == "json_limit" else None
    return jsonlimits.within(field, inner or "")


def _unparsable(exc: HTTPException) -> JSONResponse | None:
    """Answer a body the JSON parser gave up on (too deep, too long a number) as 422."""
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, RecursionError):
        message = f"JSON is nested deeper than {jsonlimits.MAX_DEPTH} levels"
    elif isinstance(cause, ValueError) and "digits" in str(cause):
        message = f"an integer has more than {sys.get_int_max_str_digits()} digits"
    else:
        return None
    details = [{"field": "body", "message": message}]
    return error_response(422, "validation_error", f"body: {message}", details)


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(HookdError)
    async def _hookd(_: Request, exc: HookdError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "invalid_json", "the request body is not valid JSON")
        details = [{"field": _where(e), "message": e["msg"]} for e in errors]
        first = details[0]
        return error_response(
            422, "validation_error", f"{first['field']}: {first['message']}", details
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        unparsable = _unparsable(exc)
        if unparsable is not None:
            return unparsable
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(allowed_methods(app, request.scope))
        return response


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Return the methods some route takes at this path (routes are one method each here)."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**scope, "method": method})[0] is Match.FULL
            for route in app.router.routes
        )
    ]


def database_unavailable() -> JSONResponse:
    """Return the 503 every route answers while the database is unreachable."""
    response = error_response(
        503,
        "database_unavailable",
        "the database is unreachable; try again shortly",
        {"retry_after": RETRY_AFTER},
    )
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


class LastResort:
    """Answer any exception a route or middleware let through as JSON, never plain text.

    Outermost of hookd's middlewares, so the publish fast path and every route
    end here: an unreachable database is a 503 (counted, logged once per outage),
    anything else a 500 `internal_error` logged once with its traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if unavailable(exc):
                DATABASE_ERRORS.labels("api").inc()
                OUTAGE.failed("api", exc)
                response = database_unavailable()
            else:
                log.exception("internal error answering %s %s", scope["method"], scope["path"])
                response = error_response(500, "internal_error", "internal server error")
            if started:  # too late for an answer: the client sees the connection end
                return
            await response(scope, receive, send)
