"""What each operation does, with an example request and answer, for the OpenAPI document.

    OPERATIONS   operationId -> Doc(description, request example, response example)

contract.py puts `description` on the operation (where the route's docstring
gave none), `request` on its JSON request body and `response` on its 2xx answer.
The examples are real shapes: tests check them against the document's schemas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["OPERATIONS", "Doc"]


@dataclass(frozen=True)
class Doc:
    description: str
    request: Any = None
    response: Any = None


T0 = "2026-11-22T04:54:06.172Z"
T1 = "2026-11-22T04:54:07.003Z"
APP_ID = "app_01m80s5r2n1d2q3w4e5r6t7y8u"
ORG_ID = "org_01m80s5r2n1d2q3w4e5r6t7y8u"
USER_ID = "usr_01m80s5r2n1d2q3w4e5r6t7y8u"
EVENT_ID = "evt_01m80s6g4b9c8v7x6z5a4s3d2f"
WEBHOOK_ID = "wh_01m80s5z8k7j6h5g4f3d2s1a0q"
DELIVERY_ID = "dlv_01m80s6g4e7r8t9y0u1i2o3p4a"

APP = {"id": APP_ID, "uid": "default", "name": "Default", "org": ORG_ID, "created_at": T0}
API_KEY = {
    "id": "key_01m80s5r2n1d2q3w4e5r6t7y8u",
    "app_id": APP_ID,
    "name": "billing service",
    "prefix": "hk_Zx4q",
    "created_at": T0,
    "role": "publisher",
    "key": None,
}
USER = {
    "id": USER_ID,
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "admin": False,
    "has_password": True,
    "created_at": T0,
    "updated_at": T0,
}
MEMBER = {"user": USER, "role": "owner", "created_at": T0}
TOKEN = {
    "id": "key_01m80s7a1b2c3d4e5f6g7h8j9k",
    "user_id": USER_ID,
    "name": "laptop",
    "prefix": "hk_9fQa",
    "created_at": T0,
    "token": None,
}
ORG = {"id": ORG_ID, "name": "Acme", "created_at": T0}
EVENT_TYPE = {
    "name": "job.success",
    "group": "Jobs",
    "description": "A job finished successfully.",
    "sample": {"job": {"id": 1, "title": "Nightly"}},
    "created_at": T0,
    "updated_at": T0,
}
WEBHOOK = {
    "id": WEBHOOK_ID,
    "name": "job.success",
    "description": "",
    "url": "https://example.com/hook",
    "events": ["job.*"],
    "enabled": True,
    "method": "POST",
    "content_type": "application/json",
    "headers": {},
    "body_template": None,
    "filter": None,
    "signed": True,
    "signing": ["standard"],
    "public_key": None,
    "secret_headers": [],
    "mail_exceptions_to": "",
    "last_error": None,
    "disabled_reason": None,
    "failure_streak": 0,
    "failing_since": None,
    "last_success_at": None,
    "disable_after_failures": None,
    "disable_after_seconds": None,
    "max_in_flight": 10,
    "rate_limit": None,
    "circuit_open_until": None,
    "mode": "immediate",
    "batch_order": "chronological",
    "batch_max_events": 100,
    "batch_interval": None,
    "next_flush_at": None,
    "created_at": T0,
    "updated_at": T0,
}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ATTEMPT = {
    "id": "att_01m80s6h1q2w3e4r5t6y7u8i9o",
    "number": 1,
    "started_at": T1,
    "duration_ms": 12.5,
    "outcome": "succeeded",
    "request": {
        "method": "POST",
        "url": "https://example.com/hook",
        "headers": {"content-type": "application/json", "webhook-id": EVENT_ID},
    },
    "response": {"status": 200, "headers": {"content-length": "2"}, "body": "ok"},
    "error": None,
}
DELIVERY = {
    "id": DELIVERY_ID,
    "webhook_id": WEBHOOK_ID,
    "event_id": EVENT_ID,
    "kind": "event",
    "batch_id": None,
    "status": "succeeded",
    "attempts": 1,
    "next_attempt_at": None,
    "last_error": None,
    "last_status_code": 200,
    "created_at": T0,
    "updated_at": T1,
}
DELIVERY_DETAIL = {**DELIVERY, "attempt_log": [ATTEMPT], "events": None}
PENDING = {
    **DELIVERY_DETAIL,
    "status": "pending",
    "attempts": 3,
    "next_attempt_at": T1,
    "last_error": "503 Service Unavailable",
    "last_status_code": 503,
    "attempt_log": [],
}
PUBLISHED = {
    "id": EVENT_ID,
    "type": "job.success",
    "timestamp": T0,
    "deliveries": 1,
    "duplicate": False,
}
PREVIEW = {
    "method": "POST",
    "url": "https://example.com/hook",
    "headers": {
        "content-type": "application/json",
        "webhook-id": EVENT_ID,
        "webhook-timestamp": "1795323246",
        "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
    },
    "body": '{"id":"' + EVENT_ID + '","type":"job.success","timestamp":"' + T0 + '",'
    '"live":false,"data":{"job":{"id":7,"title":"Nightly"}}}',
}
PORTAL_LINK = {
    "id": "pl_01m80s8b1n2m3q4w5e6r7t8y9u",
    "expires_at": "2026-11-22T05:54:06.172Z",
    "created_at": T0,
    "frame_origin": None,
    "revoked": False,
}
NEW_WEBHOOK = {"url": "https://example.com/hook", "events": ["job.*"]}


def _page(item: Any) -> dict[str, Any]:
    return {"data": [item], "next_cursor": None}


OPERATIONS: dict[str, Doc] = {
    "getHealth": Doc("Liveness: 200 while the process serves.", response={"status": "ok"}),
    "getReadiness": Doc(
        "Readiness: 200 when the database answers and the worker claims, else 503.",
        response={"status": "ready", "checks": {"database": {"status": "up"}}},
    ),
    "getMetrics": Doc(
        "Prometheus metrics in the text exposition format (no key needed).",
        response="# TYPE hookd_deliveries_pending gauge\nhookd_deliveries_pending 0.0\n",
    ),
    "publishEvent": Doc(
        "Publish one event; answered 202 once it and its deliveries are stored. An"
        " `Idempotency-Key` header (or the body's `id`) makes a repeat within 24 h answer"
        " the first event with `duplicate: true`.",
        request={"type": "job.success", "data": {"job": {"id": 7, "title": "Nightly"}}},
        response=PUBLISHED,
    ),
    "publishEvents": Doc(
        "Publish up to 1,000 events in one transaction; answers one result per event, in order.",
        request={
            "events": [
                {"type": "job.start", "data": {"job": {"id": 7}}},
                {"type": "job.success", "data": {"job": {"id": 7}}, "id": "job-7-done"},
            ]
        },
        response={
            "data": [
                {**PUBLISHED, "type": "job.start", "deliveries": 0},
                {**PUBLISHED, "id": "evt_01m80s6g4b9c8v7x6z5a4s3d2g"},
            ]
        },
    ),
    "getEvent": Doc(
        "Read one event as it was published.",
        response={
            "id": EVENT_ID,
            "type": "job.success",
            "timestamp": T0,
            "live": True,
            "data": {"job": {"id": 7, "title": "Nightly"}},
        },
    ),
    "createApp": Doc(
        "Create an app (a tenant) in an org; the administrator only.",
        request={"uid": "billing", "name": "Billing", "org": ORG_ID},
        response={**APP, "uid": "billing", "name": "Billing"},
    ),
    "listApps": Doc("List the apps the caller can see.", response=[APP]),
    "getApp": Doc("Read an app by its id or uid.", response=APP),
    "createApiKey": Doc(
        "Issue an app-scoped API key with a role; `key` is shown only in this answer.",
        request={"name": "billing service", "role": "publisher"},
        response={**API_KEY, "key": "hk_Zx4qLw0m3Rk1mGd9Ew5Yt2Nq8Pz6Vc"},
    ),
    "listApiKeys": Doc("List the app's API keys (never the keys themselves).", response=[API_KEY]),
    "revokeApiKey": Doc("Revoke an API key: it stops working at once."),
    "listAppMembers": Doc("List the app's members with their app roles.", response=[MEMBER]),
    "setAppMember": Doc(
        "Add a member to the app or change its role.", request={"role": "owner"}, response=MEMBER
    ),
    "removeAppMember": Doc("Remove a member from the app."),
    "createEventType": Doc(
        "Register an event type (`noun.verb`); its sample is what test sends carry.",
        request={
            "name": "job.success",
            "group": "Jobs",
            "description": "A job finished successfully.",
            "sample": {"job": {"id": 1, "title": "Nightly"}},
        },
        response=EVENT_TYPE,
    ),
    "listEventTypes": Doc("List the app's event types.", response=[EVENT_TYPE]),
    "getEventType": Doc("Read one event type.", response=EVENT_TYPE),
    "updateEventType": Doc(
        "Change an event type's group, description or sample.",
        request={"description": "A job finished without errors."},
        response={**EVENT_TYPE, "description": "A job finished without errors."},
    ),
    "deleteEventType": Doc("Delete an event type."),
    "createWebhook": Doc(
        "Subscribe a URL to event types or patterns. The answer carries the signing"
        " `secret` (generated when absent); later read it from `…/secret`.",
        request=NEW_WEBHOOK,
        response={**WEBHOOK, "secret": SECRET},
    ),
    "listWebhooks": Doc(
        "List the app's webhooks, a page at a time (`next_cursor` for the next).",
        response=_page(WEBHOOK),
    ),
    "previewDraftWebhook": Doc(
        "Render the request an unsaved webhook would send; nothing is stored or sent.",
        request={"webhook": NEW_WEBHOOK, "event_type": "job.success"},
        response=PREVIEW,
    ),
    "getWebhook": Doc("Read a webhook (without its secret).", response=WEBHOOK),
    "updateWebhook": Doc(
        "Change some of a webhook's fields; absent fields stay as they are.",
        request={"enabled": False},
        response={**WEBHOOK, "enabled": False},
    ),
    "deleteWebhook": Doc("Delete a webhook and what it still owes."),
    "getWebhookSecret": Doc("Read the webhook's signing secret.", response={"secret": SECRET}),
    "getPublicKey": Doc(
        "Read the ed25519 public keys receivers verify `v1a` signatures with.",
        response={
            "public_key": "whpk_1Bn4i+0sW9m2wD1Vh7pq4bJ3g2n0cZ6M5qGZx2Y8aQs=",
            "valid": ["whpk_1Bn4i+0sW9m2wD1Vh7pq4bJ3g2n0cZ6M5qGZx2Y8aQs="],
        },
    ),
    "rotateWebhookSecret": Doc(
        "Issue a new secret; the old one keeps signing beside it for `grace_seconds`.",
        request={"grace_seconds": 3600},
        response={"secret": "whsec_Ym9vdHN0cmFwLXJvdGF0ZWQtc2VjcmV0LWtleQ=="},
    ),
    "previewWebhook": Doc(
        "Render the exact request this webhook would send for an event (secrets masked).",
        request={"event_type": "job.success", "data": {"job": {"id": 7, "title": "Nightly"}}},
        response=PREVIEW,
    ),
    "testWebhook": Doc(
        "Send the event type's sample now (`live: false`), even while the webhook is"
        " disabled; answers with the delivery and its attempt.",
        request={"event_type": "job.success"},
        response=DELIVERY_DETAIL,
    ),
    "flushWebhook": Doc(
        "Make what waits in a queued webhook's queue into batch deliveries now.",
        response={"batches": [{"id": DELIVERY_ID, "events": 2}], "events": 2},
    ),
    "listDeliveries": Doc(
        "List deliveries, newest first, filtered by webhook, event or status.",
        response=_page(DELIVERY),
    ),
    "getDelivery": Doc("Read a delivery with its attempt log.", response=DELIVERY_DETAIL),
    "retryDelivery": Doc(
        "Deliver again now (409 while it is being sent).", response={**PENDING, "attempts": 1}
    ),
    "recoverWebhook": Doc(
        "Send again the webhook's failed deliveries created in [since, until).",
        request={"since": "2026-11-22T04:00:00Z", "until": "2026-11-22T05:00:00Z"},
        response={
            "webhook_id": WEBHOOK_ID,
            "since": "2026-11-22T04:00:00.000Z",
            "until": "2026-11-22T05:00:00.000Z",
            "recovered": 12,
        },
    ),
    "cancelDelivery": Doc(
        "Cancel a pending or queued delivery (409 when it is being sent or has finished).",
        response={**PENDING, "status": "cancelled", "next_attempt_at": None},
    ),
    "getMe": Doc(
        "Who the caller is: its user, orgs and the apps it can see, with its roles.",
        response={
            "kind": "user",
            "admin": False,
            "user": USER,
            "key_role": None,
            "orgs": [{"id": ORG_ID, "name": "Acme", "role": "owner"}],
            "apps": [
                {
                    "id": APP_ID,
                    "uid": "default",
                    "name": "Default",
                    "org": ORG_ID,
                    "org_role": "owner",
                    "app_role": None,
                }
            ],
        },
    ),
    "createUser": Doc(
        "Create a user (the administrator).",
        request={"email": "ada@example.com", "name": "Ada Lovelace"},
        response={**USER, "has_password": False},
    ),
    "listUsers": Doc("List users, a page at a time (the administrator).", response=_page(USER)),
    "getUser": Doc("Read a user (the administrator, or the user itself).", response=USER),
    "updateUser": Doc(
        "Change a user's e-mail, name or password; only the administrator changes `admin`.",
        request={"name": "Ada King"},
        response={**USER, "name": "Ada King"},
    ),
    "deleteUser": Doc("Delete a user, its tokens and memberships (the administrator)."),
    "createToken": Doc(
        "Issue a token that authenticates as the user; `token` is shown only here.",
        request={"name": "laptop"},
        response={**TOKEN, "token": "hk_9fQaMn3Lr8Wz2Xc5Vb7Nq1Ps4Ot6Ky"},
    ),
    "listTokens": Doc("List the user's tokens (never the tokens themselves).", response=[TOKEN]),
    "revokeToken": Doc("Revoke a token: it stops working at once."),
    "createOrg": Doc("Create an organization.", request={"name": "Acme"}, response=ORG),
    "listOrgs": Doc("List the orgs the caller belongs to.", response=[ORG]),
    "getOrg": Doc("Read an org.", response=ORG),
    "listOrgMembers": Doc("List the org's members with their roles.", response=[MEMBER]),
    "setOrgMember": Doc(
        "Add a member to the org or change its role.", request={"role": "member"}, response=MEMBER
    ),
    "removeOrgMember": Doc("Remove a member from the org (never its last owner)."),
    "listOrgAudit": Doc(
        "Who changed what in the org, newest first.",
        response=_page(
            {
                "id": "aud_01m80s9c1v2b3n4m5q6w7e8r9t",
                "org": ORG_ID,
                "app": APP_ID,
                "actor": USER_ID,
                "action": "webhook.update",
                "target": WEBHOOK_ID,
                "changed": ["enabled"],
                "at": T0,
            }
        ),
    ),
    "createPortalLink": Doc(
        "Make a link that opens this app's console without an account; `url` is shown once.",
        request={"expires_in": 3600},
        response={**PORTAL_LINK, "url": "http://127.0.0.1:8000/console/portal/pt_Q2x9…"},
    ),
    "listPortalLinks": Doc("List the app's portal links, newest first.", response=[PORTAL_LINK]),
    "revokePortalLink": Doc("Revoke a portal link."),
}
"""operationId -> what it does and an example request/answer."""
