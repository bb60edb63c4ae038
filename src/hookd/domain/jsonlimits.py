"""The JSON hookd accepts, and exact JSON for what orjson cannot write.

JSON from a client may hold what hookd cannot store or send faithfully:

    nesting deeper than MAX_DEPTH       refused (orjson stops at 255, the parsers near 1,000)
    a lone surrogate ("\\ud800")         refused: it cannot be encoded as UTF-8
    NaN, Infinity, numbers past 1e308   refused: not JSON; they would turn into null
    integers outside 64 bits            kept exactly where `big_ints` (event data),
                                        refused elsewhere (samples, preview data, filters)

`problem` finds the first such value and says where it is; `dumps` and `loads`
write and read event data keeping integers of any size exactly, at orjson's
speed when the data has none.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "MAX_INT", "MIN_INT", "dumps", "join_path", "loads", "problem", "within"]

MAX_DEPTH = 64  # levels of objects and arrays in one value
MIN_INT = -(1 << 63)  # orjson writes integers from here ...
MAX_INT = (1 << 64) - 1  # ... to here

_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Integers of 19 digits or more may be past what orjson reads exactly (it makes them floats).
_LONG_NUMBER = re.compile(rb"\d{19,}")


def join_path(path: str, key: str | int) -> str:
    """Extend a dotted path: `a` + `b` is `a.b`, `a` + 0 is `a[0]`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def within(field: str, path: str) -> str:
    """Name `path` (as `problem` gives it) inside `field`: `data` + `a[0]` is `data.a[0]`."""
    if not path:
        return field
    return f"{field}{path}" if path.startswith("[") else f"{field}.{path}"


def problem(value: Any, *, big_ints: bool = False) -> tuple[str, str] | None:
    """Return (path, reason) for the first value hookd cannot take, or None.

    The path is relative to `value` ("" for `value` itself). Values of other
    types (validated models, dates) are left to their own checks.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return path, "contains a lone surrogate (not valid Unicode)"
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not big_ints and not MIN_INT <= item <= MAX_INT:
                return path, f"integers must be between {MIN_INT} and {MAX_INT} here"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return path, "numbers must be finite (no NaN or Infinity, at most 1.8e308)"
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_DEPTH:
                return path, f"is nested deeper than {MAX_DEPTH} levels"
            if isinstance(item, dict):
                entries = list(item.items())
                for key, _ in entries:
                    if isinstance(key, str) and _SURROGATE.search(key):
                        return path, "has a key with a lone surrogate (not valid Unicode)"
            else:
                entries = list(enumerate(item))
            # Reversed so that the first bad value in document order is found first.
            stack.extend((v, join_path(path, k), depth + 1) for k, v in reversed(entries))
    return None


def dumps(value: Any) -> str:
    """Write `value` (already checked by `problem`) as compact JSON, big integers exactly."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer orjson cannot write: the standard library can
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes) -> Any:
    """Read JSON written by `dumps`, big integers exactly."""
    raw = text.encode() if isinstance(text, str) else text
    if _LONG_NUMBER.search(raw) is None:
        return orjson.loads(raw)
    return json.loads(raw)
