"""Filters on event data: operators, combinators, paths, validation and properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd.domain.filter import (
    MAX_DEPTH,
    MAX_PARTS,
    FilterError,
    matches_filter,
    validate_filter,
)

JOB = {
    "job": {"id": 22739, "status": "failed", "title": "Nightly", "tags": ["etl", "prod"]},
    "count": 3,
    "ratio": 0.5,
    "live": True,
    "owner": None,
    "steps": [{"name": "extract"}, {"name": "load"}],
}


def matches(spec: dict[str, Any], data: dict[str, Any] = JOB) -> bool:
    return matches_filter(validate_filter(spec), data)


class TestEmptyFilter:
    def test_none_matches_everything(self) -> None:
        assert matches_filter(None, JOB)

    def test_empty_object_matches_everything(self) -> None:
        assert matches({}, {})


class TestEquality:
    def test_dotted_path_implicit_eq(self) -> None:
        assert matches({"job.id": 22739})
        assert not matches({"job.id": 1})

    def test_explicit_eq_and_ne(self) -> None:
        assert matches({"job.status": {"$eq": "failed"}})
        assert matches({"job.status": {"$ne": "ok"}})
        assert not matches({"job.status": {"$ne": "failed"}})

    def test_bool_never_equals_number(self) -> None:
        assert not matches({"live": 1})
        assert not matches({"count": True}, {"count": 1})
        assert matches({"live": True})

    def test_int_equals_float(self) -> None:
        assert matches({"count": 3.0})

    def test_list_field_contains_value(self) -> None:
        assert matches({"job.tags": "etl"})
        assert not matches({"job.tags": "dev"})
        assert matches({"job.tags": ["etl", "prod"]})

    def test_object_equality_ignores_key_order(self) -> None:
        assert matches(
            {"job": {"tags": ["etl", "prod"], "title": "Nightly", "status": "failed", "id": 22739}}
        )

    def test_null_matches_missing_and_null(self) -> None:
        assert matches({"owner": None})
        assert matches({"nowhere": None})
        assert not matches({"job.id": None})

    def test_missing_field_matches_ne(self) -> None:
        assert matches({"nowhere": {"$ne": 1}})
        assert not matches({"nowhere": 1})

    def test_digit_segment_indexes_list(self) -> None:
        assert matches({"steps.1.name": "load"})
        assert not matches({"steps.5.name": "load"})
        assert matches({"job.tags.0": "etl"})

    def test_path_through_a_scalar_is_missing(self) -> None:
        assert not matches({"count.x": {"$exists": True}})


class TestMembership:
    def test_in(self) -> None:
        assert matches({"job.status": {"$in": ["failed", "error"]}})
        assert not matches({"job.status": {"$in": ["ok"]}})

    def test_nin(self) -> None:
        assert matches({"job.status": {"$nin": ["ok"]}})
        assert not matches({"job.status": {"$nin": ["failed", "error"]}})

    def test_in_with_list_field(self) -> None:
        assert matches({"job.tags": {"$in": ["prod", "x"]}})

    def test_exists(self) -> None:
        assert matches({"owner": {"$exists": True}})
        assert matches({"nowhere": {"$exists": False}})
        assert not matches({"job.id": {"$exists": False}})


class TestComparison:
    @pytest.mark.parametrize(
        ("op", "value", "expected"),
        [
            ("$gt", 2, True),
            ("$gt", 3, False),
            ("$gte", 3, True),
            ("$lt", 3, False),
            ("$lt", 3.5, True),
            ("$lte", 3, True),
        ],
    )
    def test_numbers(self, op: str, value: float, expected: bool) -> None:
        assert matches({"count": {op: value}}) is expected

    def test_strings(self) -> None:
        assert matches({"job.title": {"$gt": "A", "$lt": "Z"}})

    @pytest.mark.parametrize("op", ["$gt", "$gte", "$lt", "$lte"])
    def test_incomparable_types_are_false(self, op: str) -> None:
        assert not matches({"job.title": {op: 5}})
        assert not matches({"count": {op: "5"}})
        assert not matches({"live": {op: 0}})
        assert not matches({"nowhere": {op: 0}})
        assert not matches({"job": {op: 0}})

    def test_any_list_element(self) -> None:
        assert matches({"scores": {"$gt": 5}}, {"scores": [1, 9]})
        assert not matches({"scores": {"$gt": 10}}, {"scores": [1, 9]})


class TestCombinators:
    def test_multiple_keys_are_and(self) -> None:
        assert matches({"job.id": 22739, "job.status": "failed"})
        assert not matches({"job.id": 22739, "job.status": "ok"})

    def test_and_or(self) -> None:
        assert matches({"$or": [{"job.status": "ok"}, {"count": {"$gte": 3}}]})
        assert not matches({"$and": [{"job.status": "failed"}, {"count": {"$gt": 3}}]})

    def test_top_level_not(self) -> None:
        assert matches({"$not": {"job.status": "ok"}})
        assert not matches({"$not": {"job.status": "failed"}})

    def test_field_not(self) -> None:
        assert matches({"count": {"$not": {"$gt": 5}}})
        assert not matches({"count": {"$not": {"$lt": 5}}})
        assert matches({"job.status": {"$not": "ok"}})

    def test_nested(self) -> None:
        spec = {"$or": [{"$and": [{"job.id": 1}, {"count": 3}]}, {"$not": {"live": False}}]}
        assert matches(spec)


class TestValidation:
    @pytest.mark.parametrize(
        ("spec", "path"),
        [
            ({"job.status": {"$inn": ["x"]}}, "filter.job.status.$inn"),
            ({"job.status": {"$in": "failed"}}, "filter.job.status.$in"),
            ({"job.status": {"$nin": 3}}, "filter.job.status.$nin"),
            ({"owner": {"$exists": 1}}, "filter.owner.$exists"),
            ({"count": {"$gt": [1]}}, "filter.count.$gt"),
            ({"count": {"$gt": True}}, "filter.count.$gt"),
            ({"$and": []}, "filter.$and"),
            ({"$or": {"a": 1}}, "filter.$or"),
            ({"$or": [{"a": 1}, 5]}, "filter.$or[1]"),
            ({"$or": [{"a": {"$regex": "x"}}]}, "filter.$or[0].a.$regex"),
            ({"$eq": 5}, "filter.$eq"),
            ({"$nor": []}, "filter.$nor"),
            ({"$not": {"$gt": 5}}, "filter.$not.$gt"),
            ({"a": {"$eq": 1, "b": 2}}, "filter.a.b"),
            ({"a..b": 1}, "filter.a..b"),
            ({"": 1}, "filter."),
            ({"a": {"$not": {"$in": 1}}}, "filter.a.$not.$in"),
            ({"a": {"$eq": object()}}, "filter.a.$eq"),
        ],
    )
    def test_error_names_the_path(self, spec: dict[str, Any], path: str) -> None:
        with pytest.raises(FilterError) as caught:
            validate_filter(spec)
        assert caught.value.path == path
        assert path in str(caught.value)

    @pytest.mark.parametrize("spec", [None, [], "job.id", 5])
    def test_spec_must_be_an_object(self, spec: object) -> None:
        with pytest.raises(FilterError) as caught:
            validate_filter(spec)
        assert caught.value.path == "filter"

    def test_unknown_operator_is_named(self) -> None:
        with pytest.raises(FilterError, match=r"unknown operator \$inn"):
            validate_filter({"job.status": {"$inn": []}})

    def test_depth_limit(self) -> None:
        spec: dict[str, Any] = {"a": 1}
        for _ in range(MAX_DEPTH):
            spec = {"$not": spec}
        with pytest.raises(FilterError, match="nested deeper"):
            validate_filter(spec)

    def test_size_limit(self) -> None:
        with pytest.raises(FilterError, match="more than"):
            validate_filter({"a": {"$in": list(range(MAX_PARTS + 1))}})

    def test_returns_the_spec(self) -> None:
        spec = {"job.status": {"$in": ["failed", "error"]}, "$or": [{"a": 1}]}
        assert validate_filter(spec) is spec

    def test_unvalidated_unknown_operator_raises_on_match(self) -> None:
        with pytest.raises(FilterError):
            matches_filter({"a": {"$inn": [1]}}, {"a": 1})


# -- properties ----------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-3, 3) | st.sampled_from("abc")
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
    ),
    max_leaves=8,
)
data_strategy = st.dictionaries(st.sampled_from("abc"), values, max_size=3)
paths = st.sampled_from(["a", "b", "c", "a.b", "a.c", "b.0", "a.b.c", "a.0.b"])
comparable = st.integers(-3, 3) | st.floats(-3, 3) | st.sampled_from("abc")


def conditions() -> st.SearchStrategy[Any]:
    operator_objects = st.one_of(
        st.builds(lambda v: {"$eq": v}, values),
        st.builds(lambda v: {"$ne": v}, values),
        st.builds(lambda v: {"$in": v}, st.lists(values, max_size=3)),
        st.builds(lambda v: {"$nin": v}, st.lists(values, max_size=3)),
        st.builds(lambda b: {"$exists": b}, st.booleans()),
        st.builds(
            lambda op, v: {op: v}, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), comparable
        ),
    )
    plain = values.filter(lambda v: not isinstance(v, dict))
    return st.recursive(
        operator_objects | plain,
        lambda inner: st.builds(lambda c: {"$not": c}, inner),
        max_leaves=3,
    )


filters = st.recursive(
    st.dictionaries(paths, conditions(), max_size=2),
    lambda inner: st.one_of(
        st.builds(lambda fs: {"$and": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda fs: {"$or": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda f: {"$not": f}, inner),
    ),
    max_leaves=6,
)


class TestProperties:
    @given(filters, data_strategy)
    def test_generated_filters_validate_and_never_raise(
        self, spec: dict[str, Any], data: dict[str, Any]
    ) -> None:
        assert validate_filter(spec) is spec
        assert isinstance(matches_filter(spec, data), bool)

    @given(filters, data_strategy)
    def test_not_negates(self, spec: dict[str, Any], data: dict[str, Any]) -> None:
        assert matches({"$not": spec}, data) is (not matches(spec, data))

    @given(filters, filters, data_strategy)
    def test_and_or(self, f: dict[str, Any], g: dict[str, Any], data: dict[str, Any]) -> None:
        both, either = matches(f, data) and matches(g, data), matches(f, data) or matches(g, data)
        assert matches({"$and": [f, g]}, data) is both
        assert matches({"$or": [f, g]}, data) is either

    @given(paths, values, data_strategy)
    def test_in_singleton_is_eq(self, path: str, value: Any, data: dict[str, Any]) -> None:
        assert matches({path: {"$in": [value]}}, data) is matches({path: {"$eq": value}}, data)

    @given(paths, st.lists(values, max_size=4), data_strategy)
    def test_nin_negates_in(self, path: str, options: list[Any], data: dict[str, Any]) -> None:
        assert matches({path: {"$nin": options}}, data) is (
            not matches({path: {"$in": options}}, data)
        )

    @given(paths, values, data_strategy)
    def test_ne_negates_eq(self, path: str, value: Any, data: dict[str, Any]) -> None:
        assert matches({path: {"$ne": value}}, data) is (not matches({path: {"$eq": value}}, data))

    @given(paths, values.filter(lambda v: not isinstance(v, dict)), data_strategy)
    def test_implicit_equality_is_eq(self, path: str, value: Any, data: dict[str, Any]) -> None:
        assert matches({path: value}, data) is matches({path: {"$eq": value}}, data)

    @given(scalars, comparable)
    def test_gt_and_lte_split_comparable_scalars(self, field: Any, bound: Any) -> None:
        gt, lte = (
            matches({"x": {"$gt": bound}}, {"x": field}),
            matches({"x": {"$lte": bound}}, {"x": field}),
        )
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (field, bound)
        )
        strings = isinstance(field, str) and isinstance(bound, str)
        assert (gt != lte) if (numbers or strings) else (not gt and not lte)
