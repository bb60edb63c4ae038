"""Ordered delivery per webhook (`"ordering": "fifo"`) and its ordering keys.

A FIFO webhook's deliveries form lines, one per ordering key: in each line
only the oldest unfinished delivery (the head) may be sent, one at a time;
the ones behind wait until it succeeds, is cancelled or fails for good.

The key is a small template over the event's data, rendered once per delivery
at publish: literal text and `${path.to.field}` lookups (letters, digits, `_`
and `-`, joined by dots; a number indexes a list). No expressions: the key is
made on the publish path, so it must cost next to nothing. A field that is
missing or null renders as the empty string, so such events share one line;
without `ordering_key` the whole webhook is one line.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["MAX_KEY", "ORDERINGS", "KeyTemplate", "OrderingError", "compile_key"]

ORDERINGS = ("none", "fifo")
MAX_KEY = 200  # characters of a rendered key (longer ones are cut: keys only group)
MAX_TEMPLATE = 500
_PLACEHOLDER = re.compile(r"\$\{\s*([^}]*?)\s*\}")
_PATH = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


class OrderingError(ValueError):
    """An ordering key template that cannot be used; the message says why."""


class KeyTemplate:
    """A compiled ordering key: render(data) -> the line the delivery joins."""

    __slots__ = ("_parts", "source")

    def __init__(self, source: str, parts: list[str | tuple[str, ...]]) -> None:
        self.source = source
        self._parts = parts

    def render(self, data_json: str) -> str:
        try:
            data = orjson.loads(data_json)
        except orjson.JSONDecodeError:
            try:  # what orjson refuses but JSON allows (integers beyond 64 bits)
                data = json.loads(data_json)
            except ValueError:
                data = None
        out: list[str] = []
        for part in self._parts:
            out.append(part if isinstance(part, str) else _text(_lookup(data, part)))
        return "".join(out)[:MAX_KEY]


def compile_key(source: str) -> KeyTemplate:
    """Compile an ordering key template, or raise OrderingError naming the problem."""
    if len(source) > MAX_TEMPLATE:
        raise OrderingError(f"must be at most {MAX_TEMPLATE} characters")
    parts: list[str | tuple[str, ...]] = []
    at = 0
    for found in _PLACEHOLDER.finditer(source):
        if found.start() > at:
            parts.append(source[at : found.start()])
        path = found.group(1)
        if not _PATH.fullmatch(path):
            raise OrderingError(
                f"${{{path}}} is not a field path: use ${{order.id}}-style paths only"
            )
        parts.append(tuple(path.split(".")))
        at = found.end()
    if at < len(source):
        parts.append(source[at:])
    literal = "".join(p for p in parts if isinstance(p, str))
    if "${" in literal:
        raise OrderingError("has an unclosed ${")
    if not any(isinstance(p, tuple) for p in parts):
        raise OrderingError("must name at least one field, e.g. ${order.id}")
    return KeyTemplate(source, parts)


def _lookup(data: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if isinstance(data, dict):
            data = data.get(name)
        elif isinstance(data, list) and name.isdigit() and int(name) < len(data):
            data = data[int(name)]
        else:
            return None
    return data


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
