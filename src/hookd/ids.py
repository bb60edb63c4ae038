"""Prefixed, time-sortable ids: `evt_`, `wh_`, `dlv_`, `att_`, `app_`, `key_`.

The part after the prefix is 26 Crockford base32 characters: 48 bits of
milliseconds then 80 random bits, so ids sort by creation time as strings.
Within one millisecond of one process the random part counts up from the
last id made (as ULIDs do), so ids made together, such as the events of one
publish call and their deliveries, also sort in the order they were made.
"""

from __future__ import annotations

import base64
import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

PREFIXES = frozenset({"evt", "wh", "dlv", "att", "app", "key", "msg", "bat", "ntf"})

_RANDOM_MAX = (1 << 80) - 1
_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, random part) of the newest id made in this process


def new_id(prefix: str, now: float | None = None) -> str:
    """Return a new id with `prefix`, ordered by `now` (seconds; default: the clock)."""
    global _last
    ms = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    with _lock:
        last_ms, last_random = _last
        if ms == last_ms and last_random < _RANDOM_MAX:
            random_part = last_random + 1  # no system call for ids made together
        else:
            random_part = int.from_bytes(os.urandom(10), "big")
        if ms >= last_ms:
            _last = (ms, random_part)
    return f"{prefix}_{encode((ms << 80) | random_part)}"


# base64's base32 (RFC 4648) spelled in Crockford's alphabet, lower case.
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET)


def encode(value: int) -> str:
    """Return a 128-bit value as 26 Crockford base32 characters, most significant first."""
    # 20 bytes make 32 characters; the first 6 only encode 30 of the 32 bits of padding.
    return base64.b32encode(value.to_bytes(20, "big"))[6:].decode().translate(_CROCKFORD)


def has_prefix(value: str, prefix: str) -> bool:
    """Tell whether `value` looks like an id made by `new_id(prefix)`."""
    head, sep, tail = value.partition("_")
    return sep == "_" and head == prefix and len(tail) == 26
