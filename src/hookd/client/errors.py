"""What the client raises: `HookdError` for answers, `InvalidSignature` for deliveries."""

from __future__ import annotations

from typing import Any

__all__ = ["HookdError", "InvalidSignature"]


class HookdError(Exception):
    """hookd answered an error (or could not be reached: `status` 0).

    `code`, `message` and `details` are the answer's `{"error": {…}}`;
    for a `validation_error`, `details` lists `{"field", "message"}` per bad field.
    """

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class InvalidSignature(ValueError):
    """A delivery's signature does not verify; the message says why."""
