"""The errors hookd raises on purpose, each mapped to one HTTP status.

HookdError                      500 (a bug; never for bad input)
├── Unauthorized                401 missing or unknown key
├── Forbidden                   403 key may not do this
├── NotFound                    404 (also: another app's object)
├── Conflict                    409 name or id already taken
├── PayloadTooLarge             413
└── Invalid                     422 names the field that is wrong
"""

from __future__ import annotations

from typing import Any


class HookdError(Exception):
    """Base of every error hookd raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthorized(HookdError):
    status = 401
    code = "unauthorized"


class Forbidden(HookdError):
    status = 403
    code = "forbidden"


class NotFound(HookdError):
    status = 404
    code = "not_found"


class Conflict(HookdError):
    status = 409
    code = "conflict"


class PayloadTooLarge(HookdError):
    status = 413
    code = "payload_too_large"


class Invalid(HookdError):
    """Input that cannot be accepted; `field` names where it is (dotted path)."""

    status = 422
    code = "validation_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", details=[{"field": field, "message": message}])
        self.field = field
