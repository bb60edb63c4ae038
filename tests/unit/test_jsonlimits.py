"""The JSON hookd takes: what `problem` refuses and where, and exact big integers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd.domain import jsonlimits
from hookd.domain.jsonlimits import MAX_DEPTH, MAX_INT, MIN_INT, problem

finite = st.floats(allow_nan=False, allow_infinity=False)
text = st.text(st.characters(exclude_categories=["Cs"]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=30,
)


def nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = {"a": value}
    return value


class TestProblem:
    def test_sixty_four_levels_pass_sixty_five_do_not(self) -> None:
        assert problem(nested(MAX_DEPTH)) is None
        path, reason = problem(nested(MAX_DEPTH + 1)) or ("", "")
        assert path == ".".join(["a"] * MAX_DEPTH) and "64 levels" in reason

    def test_deep_values_are_walked_without_recursion(self) -> None:
        value: Any = []
        for _ in range(100_000):
            value = [value]
        assert problem(value) == ("[0]" * MAX_DEPTH, "is nested deeper than 64 levels")

    @pytest.mark.parametrize(
        ("value", "where"),
        [
            ({"a": [1, "\ud800"]}, "a[1]"),
            ({"\udfff": 1}, ""),
            ([float("nan")], "[0]"),
            ({"x": {"y": float("-inf")}}, "x.y"),
            ([MAX_INT + 1], "[0]"),
            ([MIN_INT - 1], "[0]"),
        ],
    )
    def test_names_the_first_bad_value(self, value: Any, where: str) -> None:
        found = problem(value)
        assert found is not None and found[0] == where

    def test_first_in_document_order(self) -> None:
        assert problem({"a": 1, "b": ["\ud800"], "c": float("nan")}) == (
            "b[0]",
            "contains a lone surrogate (not valid Unicode)",
        )

    def test_big_integers_where_allowed(self) -> None:
        assert problem({"n": 2**64, "m": -(10**100)}, big_ints=True) is None
        assert problem([MIN_INT, MAX_INT, True, -0.0, 1e308]) is None

    @given(json_values)
    def test_json_values_pass(self, value: Any) -> None:
        assert problem(value, big_ints=True) is None


class TestExactIntegers:
    @given(json_values)
    def test_round_trip_is_exact(self, value: Any) -> None:
        text = jsonlimits.dumps(value)
        assert jsonlimits.loads(text) == value
        assert json.loads(text) == value  # the standard library reads the same value

    @given(st.integers(min_value=MAX_INT + 1) | st.integers(max_value=MIN_INT - 1))
    def test_big_integers_keep_every_digit(self, n: int) -> None:
        text = jsonlimits.dumps({"n": n})
        assert text == f'{{"n":{n}}}'
        assert jsonlimits.loads(text)["n"] == n
        assert jsonlimits.loads(text.encode())["n"] == n

    def test_the_orjson_boundary(self) -> None:
        for n in (MAX_INT, MIN_INT, MAX_INT + 1, MIN_INT - 1, 10**19, -(10**19)):
            assert jsonlimits.loads(jsonlimits.dumps([n])) == [n]

    def test_within(self) -> None:
        assert jsonlimits.within("data", "") == "data"
        assert jsonlimits.within("data", "a.b") == "data.a.b"
        assert jsonlimits.within("data", "[2].b") == "data[2].b"
