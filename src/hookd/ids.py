"""Prefixed, time-sortable ids: `evt_`, `wh_`, `dlv_`, `att_`, `app_`, `key_`.

The part after the prefix is 26 Crockford base32 characters: 48 bits of
milliseconds then 80 random bits, so ids sort by creation time as strings.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

PREFIXES = frozenset({"evt", "wh", "dlv", "att", "app", "key", "msg", "bat"})


def new_id(prefix: str, now: float | None = None) -> str:
    """Return a new id with `prefix`, ordered by `now` (seconds; default: the clock)."""
    ms = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def has_prefix(value: str, prefix: str) -> bool:
    """Tell whether `value` looks like an id made by `new_id(prefix)`."""
    head, sep, tail = value.partition("_")
    return sep == "_" and head == prefix and len(tail) == 26
