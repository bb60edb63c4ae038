"""MongoDB-style filters on event data.

    {"job.id": 22739}                              a dotted path, implicit $eq
    {"job.status": {"$in": ["failed", "error"]}}   an operator object
    {"$or": [{"a": 1}, {"b": {"$gt": 2}}]}         $and / $or: non-empty lists of filters
    {"$not": {"job.status": "ok"}}                 $not: a filter, or in a field an operator object

Field operators: $eq $ne $in $nin $gt $gte $lt $lte $exists $not. Several keys in
one object must all hold. Where Mongo leaves room, hookd chooses:

- A dotted path walks nested objects; an all-digit segment indexes a list.
  A key that itself contains a dot cannot be addressed.
- Equality is JSON equality: `true` never equals `1`, `1` equals `1.0`, objects
  compare without regard to key order. Against a list field, equality also
  holds when an element equals the value (`{"tags": "x"}` matches `["x", "y"]`).
- `null` matches a missing field as well as an explicit null, as in Mongo.
- $gt $gte $lt $lte compare numbers with numbers and strings with strings;
  anything else is false, never an error. Against a list, any element may match.
- $ne, $nin and $not are exact negations, so a missing field matches {"$ne": 1}.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_PARTS", "FilterError", "matches_filter", "validate_filter"]

MAX_DEPTH = 32
MAX_PARTS = 10_000

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
_FIELD_OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", "$exists", "$not", *_COMPARISONS})
_MISSING = object()


class FilterError(ValueError):
    """A filter that is malformed; `path` says where, as in `filter.job.status.$inn`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def validate_filter(spec: object) -> dict[str, Any]:
    """Check `spec` is a well-formed filter and return it."""
    if not isinstance(spec, Mapping):
        raise FilterError("filter", "must be an object")
    _Validator().filter(spec, "filter", 1)
    return spec if isinstance(spec, dict) else dict(spec)


def matches_filter(spec: Mapping[str, Any] | None, data: Mapping[str, Any]) -> bool:
    """Tell whether `data` satisfies `spec`; no filter matches everything."""
    return not spec or _matches(spec, data, "filter")


# -- validation ----------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_operators(value: object) -> bool:
    return isinstance(value, Mapping) and any(str(key).startswith("$") for key in value)


class _Validator:
    """Walk a filter once, counting parts to stop oversized or deeply nested ones."""

    def __init__(self) -> None:
        self.parts = 0

    def _enter(self, path: str, depth: int) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise FilterError(path, f"filter has more than {MAX_PARTS} parts")
        if depth > MAX_DEPTH:
            raise FilterError(path, f"filter is nested deeper than {MAX_DEPTH}")

    def filter(self, spec: object, path: str, depth: int) -> None:
        self._enter(path, depth)
        if not isinstance(spec, Mapping):
            raise FilterError(path, "must be an object")
        for key, value in spec.items():
            if not isinstance(key, str):
                raise FilterError(path, f"key {key!r} is not a string")
            where = f"{path}.{key}"
            if key in ("$and", "$or"):
                if not isinstance(value, list) or not value:
                    raise FilterError(where, "needs a non-empty list of filters")
                for index, item in enumerate(value):
                    self.filter(item, f"{where}[{index}]", depth + 1)
            elif key == "$not":
                self.filter(value, where, depth + 1)
            elif key.startswith("$"):
                known = key in _FIELD_OPERATORS
                raise FilterError(
                    where, f"{key} needs a field" if known else f"unknown operator {key}"
                )
            elif not key or "" in key.split("."):
                raise FilterError(where, "field path has an empty segment")
            else:
                self.condition(value, where, depth + 1)

    def condition(self, value: object, path: str, depth: int) -> None:
        if not _is_operators(value):
            self.literal(value, path, depth)
            return
        assert isinstance(value, Mapping)
        self._enter(path, depth)
        for op, argument in value.items():
            where = f"{path}.{op}"
            if not isinstance(op, str) or not op.startswith("$"):
                raise FilterError(where, "operators and fields cannot be mixed in one object")
            if op not in _FIELD_OPERATORS:
                raise FilterError(where, f"unknown operator {op}")
            if op in ("$in", "$nin"):
                if not isinstance(argument, list):
                    raise FilterError(where, f"{op} needs a list")
                for index, item in enumerate(argument):
                    self.literal(item, f"{where}[{index}]", depth + 1)
            elif op == "$exists" and not isinstance(argument, bool):
                raise FilterError(where, "$exists needs true or false")
            elif op in _COMPARISONS and not (_is_number(argument) or isinstance(argument, str)):
                raise FilterError(where, f"{op} needs a number or a string")
            elif op == "$not":
                self.condition(argument, where, depth + 1)
            else:
                self.literal(argument, where, depth + 1)

    def literal(self, value: object, path: str, depth: int) -> None:
        self._enter(path, depth)
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise FilterError(path, f"key {key!r} is not a string")
                self.literal(item, f"{path}.{key}", depth + 1)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.literal(item, f"{path}[{index}]", depth + 1)
        elif not (value is None or isinstance(value, str | int | float)):
            raise FilterError(path, f"{type(value).__name__} is not a JSON value")


# -- evaluation ----------------------------------------------------------------------


def _matches(spec: Mapping[str, Any], data: Mapping[str, Any], path: str) -> bool:
    for key, value in spec.items():
        if key == "$and":
            ok = all(_matches(item, data, path) for item in value)
        elif key == "$or":
            ok = any(_matches(item, data, path) for item in value)
        elif key == "$not":
            ok = not _matches(value, data, path)
        elif key.startswith("$"):
            raise FilterError(f"{path}.{key}", f"unknown operator {key}")
        else:
            ok = _satisfies(_resolve(data, key), value, f"{path}.{key}")
        if not ok:
            return False
    return True


def _resolve(data: Any, path: str) -> Any:
    current = data
    for segment in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(segment, _MISSING)
        elif isinstance(current, list | tuple) and segment.isascii() and segment.isdigit():
            index = int(segment)
            current = current[index] if index < len(current) else _MISSING
        else:
            return _MISSING
        if current is _MISSING:
            break
    return current


def _satisfies(field: Any, condition: Any, path: str) -> bool:
    if not _is_operators(condition):
        return _equals(field, condition)
    return all(_apply(op, field, argument, path) for op, argument in condition.items())


def _apply(op: str, field: Any, argument: Any, path: str) -> bool:
    if op == "$eq":
        return _equals(field, argument)
    if op == "$ne":
        return not _equals(field, argument)
    if op == "$in":
        return any(_equals(field, item) for item in argument)
    if op == "$nin":
        return not any(_equals(field, item) for item in argument)
    if op == "$exists":
        return (field is not _MISSING) == bool(argument)
    if op == "$not":
        return not _satisfies(field, argument, f"{path}.$not")
    compare = _COMPARISONS.get(op)
    if compare is None:
        raise FilterError(f"{path}.{op}", f"unknown operator {op}")
    if isinstance(field, list | tuple):
        return any(_ordered(item, argument) and compare(item, argument) for item in field)
    return _ordered(field, argument) and compare(field, argument)


def _ordered(left: Any, right: Any) -> bool:
    both_numbers = _is_number(left) and _is_number(right)
    return both_numbers or (isinstance(left, str) and isinstance(right, str))


def _equals(field: Any, value: Any) -> bool:
    if field is _MISSING:
        return value is None
    if _same(field, value):
        return True
    return isinstance(field, list | tuple) and any(_same(item, value) for item in field)


def _same(left: Any, right: Any) -> bool:
    """Compare as JSON values: booleans are not numbers."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return type(left) is type(right) and bool(left == right)
