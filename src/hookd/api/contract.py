"""The OpenAPI document as the server behaves: one error model, bearer auth, readable ids.

FastAPI builds the document from the routes; `install` replaces `app.openapi`
with a builder that then:

    operationId         camelCase, from OPERATION_IDS (endpoint name -> id)
    errors              every status an operation can answer, all as `Error`
    security            `bearer` on every operation but /healthz, /readyz, /metrics
    /metrics            Prometheus text, not JSON
    descriptions        every operation, with example requests and answers (examples.py)
    constraints         rules the services enforce beyond the request models
                        (CONSTRAINTS per property, MODEL_RULES per body, QUERY_RULES)

The route files stay as they are: ids come from `operation_id`, passed to
FastAPI as `generate_unique_id_function`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from hookd.api.examples import OPERATIONS
from hookd.api.teams import EMAIL
from hookd.domain import signing
from hookd.domain.matching import _NAME as TYPE_NAME
from hookd.service.deliveries import STATUSES
from hookd.service.webhooks import BATCH_ORDERS, CONTENT_TYPES, METHODS, MODES

__all__ = ["OPERATION_IDS", "install", "operation_id"]

OPERATION_IDS: dict[str, str] = {
    "publish": "publishEvent",
    "publish_batch": "publishEvents",
    "get_event": "getEvent",
    "healthz": "getHealth",
    "readyz": "getReadiness",
    "metrics": "getMetrics",
    "create_app": "createApp",
    "list_apps": "listApps",
    "get_app": "getApp",
    "create_key": "createApiKey",
    "list_keys": "listApiKeys",
    "revoke_key": "revokeApiKey",
    "list_app_members": "listAppMembers",
    "set_app_member": "setAppMember",
    "remove_app_member": "removeAppMember",
    "create_event_type": "createEventType",
    "list_event_types": "listEventTypes",
    "get_event_type": "getEventType",
    "update_event_type": "updateEventType",
    "delete_event_type": "deleteEventType",
    "create_webhook": "createWebhook",
    "preview_draft": "previewDraftWebhook",
    "list_webhooks": "listWebhooks",
    "get_webhook": "getWebhook",
    "get_secret": "getWebhookSecret",
    "rotate_secret": "rotateWebhookSecret",
    "preview": "previewWebhook",
    "update_webhook": "updateWebhook",
    "delete_webhook": "deleteWebhook",
    "test_webhook": "testWebhook",
    "flush": "flushWebhook",
    "list_deliveries": "listDeliveries",
    "get_delivery": "getDelivery",
    "retry_delivery": "retryDelivery",
    "recover_webhook": "recoverWebhook",
    "cancel_delivery": "cancelDelivery",
    "me": "getMe",
    "create_user": "createUser",
    "list_users": "listUsers",
    "get_user": "getUser",
    "update_user": "updateUser",
    "delete_user": "deleteUser",
    "create_token": "createToken",
    "list_tokens": "listTokens",
    "revoke_token": "revokeToken",
    "create_org": "createOrg",
    "list_orgs": "listOrgs",
    "get_org": "getOrg",
    "list_org_members": "listOrgMembers",
    "set_org_member": "setOrgMember",
    "remove_org_member": "removeOrgMember",
    "org_audit": "listOrgAudit",
}
"""Endpoint function name -> operationId; a route not listed gets its name in camelCase."""

PUBLIC = frozenset({"getHealth", "getReadiness", "getMetrics"})
"""Operations that need no key."""

CONFLICTS = frozenset(
    {
        "createApp",
        "createEventType",
        "createUser",
        "updateUser",
        "retryDelivery",
        "cancelDelivery",
        "setOrgMember",
        "removeOrgMember",
    }
)
"""Operations that answer 409 when the name is taken or the state forbids the change."""

_MESSAGES = {
    "400": "The body is not valid JSON (`invalid_json`).",
    "401": "No key, or a key hookd does not know (`unauthorized`).",
    "403": "The key or user may not do this (`forbidden`).",
    "404": "No such object in this app, or another app's (`not_found`).",
    "409": "Already exists, or the object's state forbids this (`conflict`).",
    "413": "The body is larger than HOOKD_MAX_BODY_BYTES (`payload_too_large`).",
    "422": "A field is wrong; `details` lists each with its path (`validation_error`).",
    "503": "The database is unreachable; retry after `Retry-After` (`database_unavailable`).",
}

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "examples": ["validation_error"]},
                "message": {"type": "string", "examples": ["url: is required"]},
                "details": {
                    "description": "For `validation_error`: a list of `{field, message}`;"
                    " otherwise null or an object.",
                },
            },
        }
    },
}


_WEBHOOK_FIELDS: dict[str, dict[str, Any]] = {
    "description": {"maxLength": 65536},
    "events": {"minItems": 1, "items": {"type": "string", "minLength": 1}},
    "method": {"enum": list(METHODS)},
    "content_type": {"enum": list(CONTENT_TYPES)},
    "signing": {"items": {"type": "string", "enum": list(signing.SCHEMES)}},
    "mode": {"enum": list(MODES)},
    "batch_order": {"enum": list(BATCH_ORDERS)},
    "max_in_flight": {"minimum": 1, "maximum": 1000},
    "disable_after_failures": {"minimum": 1, "maximum": 1e9},
    "disable_after_seconds": {"minimum": 1, "maximum": 1e9},
    "rate_limit": {"minimum": 0.001, "maximum": 1e6},
    "batch_max_events": {"minimum": 1, "maximum": 10000},
    "batch_interval": {"minimum": 1, "maximum": 7 * 86400},
}

# pydantic checks patterns with Rust's regex, whose `\s` is Unicode White_Space;
# JSON Schema's (ECMA-262) differs (U+0085 no, U+FEFF yes). Spell the class out.
_SPACE = r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_EMAIL = {"pattern": EMAIL.replace(r"\s", _SPACE)}

CONSTRAINTS: dict[tuple[str, str], dict[str, Any]] = {
    ("UserIn", "email"): _EMAIL,
    ("UserPatch", "email"): _EMAIL,
    ("EventIn", "type"): {"pattern": TYPE_NAME.pattern},
    ("EventTypeIn", "name"): {"pattern": TYPE_NAME.pattern},
    ("PortalLinkIn", "expires_in"): {"exclusiveMinimum": 0},
    **{
        (model, name): rule
        for model in ("WebhookIn", "WebhookPatch")
        for name, rule in _WEBHOOK_FIELDS.items()
    },
}
"""(schema, property) -> rules the services enforce beyond the request models.

On a nullable property the rules go on its non-null branch."""

_GIVEN = {"type": "string", "minLength": 1}

MODEL_RULES: dict[str, dict[str, Any]] = {
    "WebhookIn": {
        "description": "A new webhook (or a draft to preview): `url` (or its alias `uri`)"
        " and `events` (or `event`) are required; give a name or its alias, not both.",
        "allOf": [
            {
                "anyOf": [
                    {"required": ["url"], "properties": {"url": _GIVEN}},
                    {"required": ["uri"], "properties": {"uri": _GIVEN}},
                ]
            },
            {
                "anyOf": [
                    {"required": ["events"], "properties": {"events": {"type": "array"}}},
                    {"required": ["event"], "properties": {"event": _GIVEN}},
                ]
            },
        ],
    },
}
"""Schema name -> rules on the whole body (which fields are required together)."""


LINKS: dict[str, dict[str, dict[str, Any]]] = {
    "publishEvent": {
        "getEvent": {"event_id": "$response.body#/id"},
        "listDeliveries": {"event": "$response.body#/id"},
    },
    "createWebhook": {
        "getWebhook": {"webhook_id": "$response.body#/id"},
        "listDeliveries": {"webhook": "$response.body#/id"},
    },
    "createEventType": {"getEventType": {"name": "$response.body#/name"}},
}
"""operationId -> {target operationId: {its parameter: where the value comes from}}.

OpenAPI links from the 2xx answer: the event a publish made is the answer's `id`
(the body's `id` is an idempotency key, not the event's id)."""

QUERY_RULES: dict[tuple[str, str], dict[str, Any]] = {
    ("listDeliveries", "status"): {"type": "string", "enum": list(STATUSES)},
}
"""(operationId, query parameter) -> its schema, where the route takes a plain string."""


def _constrain(schema: dict[str, Any], rules: dict[str, Any]) -> None:
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    for branch in branches or [schema]:
        branch.update(rules)


def _document(op: dict[str, Any]) -> None:
    """Give `op` its description and examples from OPERATIONS."""
    doc = OPERATIONS.get(op["operationId"])
    if doc is None:
        return
    op.setdefault("description", doc.description)
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None and doc.request is not None:
        body["example"] = doc.request
    for status, response in op.get("responses", {}).items():
        if status.startswith("2") and doc.response is not None:
            for media in response.get("content", {}).values():
                media["example"] = doc.response


def _link(op: dict[str, Any], path: str) -> None:
    """Give `op`'s 2xx answer the links of LINKS (the app is the request's own)."""
    targets = LINKS.get(op["operationId"])
    if not targets:
        return
    links = {}
    for target, parameters in targets.items():
        given = dict(parameters)
        if "{app}" in path:
            given["app"] = "$request.path.app"
        links[target] = {"operationId": target, "parameters": given}
    for status, response in op["responses"].items():
        if status.startswith("2"):
            response["links"] = links


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def operation_id(route: APIRoute) -> str:
    """Return the route's operationId: from the table, else its name in camelCase."""
    return OPERATION_IDS.get(route.name) or _camel(route.name)


def _statuses(op: dict[str, Any]) -> list[str]:
    params = op.get("parameters", [])
    body = "requestBody" in op
    out = []
    if body:
        out += ["400", "413"]
    if op["operationId"] not in PUBLIC:
        out += ["401", "403"]
    if any(p["in"] == "path" for p in params) or op["operationId"] not in PUBLIC:
        out.append("404")
    if op["operationId"] in CONFLICTS:
        out.append("409")
    if body or params:
        out.append("422")
    if op["operationId"] != "getHealth":
        out.append("503")
    return out


def build(app: FastAPI) -> dict[str, Any]:
    """Return the OpenAPI document of `app`, corrected to what the server answers."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    for (model, field), rules in CONSTRAINTS.items():
        if model in schemas:
            _constrain(schemas[model]["properties"][field], rules)
    for model, rules in MODEL_RULES.items():
        if model in schemas:
            schemas[model].update(rules)
    components["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "The admin key, an app's API key (`hk_…`) or a user's token.",
        }
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            # Authorization is the security scheme, not a parameter to fill in.
            params = [
                p
                for p in op.get("parameters", [])
                if not (p.get("in") == "header" and p.get("name", "").lower() == "authorization")
            ]
            for param in params:
                rule = QUERY_RULES.get((op["operationId"], param["name"]))
                if rule is not None:
                    param["schema"] = rule
            if params:
                op["parameters"] = params
            else:
                op.pop("parameters", None)
            responses = op.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's `{"detail": [...]}`; set again below
            for status in _statuses(op):
                responses[status] = {"description": _MESSAGES[status], "content": error}
            if op["operationId"] not in PUBLIC:
                op["security"] = [{"bearer": []}]
            else:
                op["security"] = []
            if path == "/metrics" and method == "get":
                responses["200"] = {
                    "description": "Prometheus text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            _document(op)
            _link(op, path)
    return doc


def install(app: FastAPI) -> None:
    """Make `app.openapi()` return the corrected document (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
