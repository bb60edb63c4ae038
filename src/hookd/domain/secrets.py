"""Decide which request headers are secret: masked in responses, attempt logs and previews.

A header is secret when the webhook lists it in `secret_headers`, or by default
when its name is a well-known credential header or contains a credential word.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["SECRET_HEADER_NAMES", "SECRET_HEADER_WORDS", "is_secret_header"]

SECRET_HEADER_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
"""Header names that are secret whatever the webhook lists (lower case)."""

SECRET_HEADER_WORDS = ("token", "secret", "key", "password")
"""A header whose lower-case name contains one of these is secret."""


def is_secret_header(name: str, listed: Iterable[str] = ()) -> bool:
    """Return whether the header `name` is secret: listed (any case) or secret by default."""
    lower = name.lower()
    if lower in SECRET_HEADER_NAMES or any(word in lower for word in SECRET_HEADER_WORDS):
        return True
    return any(lower == item.lower() for item in listed)
