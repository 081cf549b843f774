"""JSON parsing and validation: errors name the JSON path of the bad node."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from segmint.errors import InvalidInput
from segmint.filters import (
    And,
    Condition,
    EventCondition,
    ListRef,
    MemorySegmentSource,
    Not,
    Or,
    SegmentRef,
    parse_filter,
    to_json,
)
from tests.filters.strategies import OFFLINE_PROJECT, filters

P = OFFLINE_PROJECT


def _error(data: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_filter(data, P)
    return caught.value


def test_builds_the_tree() -> None:
    data = {
        "and": [
            {"field": "status", "op": "in", "value": ["new", "contacted"]},
            {"or": [{"field": "phone", "op": "is_null"}, {"not": {"in_list": 3}}]},
            {"event": "trial_signup", "performed": False, "within_days": 14,
             "where": {"field": "plan", "op": "eq", "value": "pro"}},
            {"in_segment": 12},
        ]
    }  # fmt: skip
    tree = parse_filter(data, P)
    assert tree == And(
        (
            Condition("status", "in", ("new", "contacted")),
            Or((Condition("phone", "is_null"), Not(ListRef(3)))),
            EventCondition("trial_signup", False, 1, None, 14, Condition("plan", "eq", "pro")),
            SegmentRef(12),
        )
    )
    assert to_json(tree) == data


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ([], "filter", "expected an object"),
        ({}, "filter", "expected exactly one of"),
        ({"and": [], "or": []}, "filter", "expected exactly one of"),
        ({"and": []}, "filter.and", "at least one"),
        ({"or": {"field": "status"}}, "filter.or", "expected a list"),
        ({"and": [{"field": "status", "op": "eq", "value": "new"}, {"field": "x", "op": "eq"}]},
         "filter.and[1].field", "unknown field 'x'"),
        ({"and": [{"field": "status", "op": "eq", "value": "a"}, {"field": "status", "op": "eq",
          "value": "b"}, {"field": "engagement_score", "op": "gt", "value": "high"}]},
         "filter.and[2].value", "expected a number"),
        ({"field": "status", "op": "like", "value": "x"}, "filter.op", "unknown operator 'like'"),
        ({"field": "tags", "op": "gt", "value": 1}, "filter.op", "does not apply to tags"),
        ({"field": "tags", "op": "contains", "value": "vip"}, "filter.op",
         "tags holds a list, use has any (has_any) to match its elements"),
        ({"field": "tags", "op": "eq", "value": "vip"}, "filter.op", "has any (has_any)"),
        ({"field": "status", "op": "has_any", "value": ["x"]}, "filter.op", "does not apply"),
        ({"field": "status", "op": "eq"}, "filter.value", "required"),
        ({"field": "status", "op": "eq", "value": "  "}, "filter.value", "non-blank"),
        ({"field": "status", "op": "is_null", "value": 1}, "filter.value", "takes no value"),
        ({"field": "status", "op": "eq", "value": "a\ud800"}, "filter.value", "valid Unicode"),
        ({"field": "status", "op": "eq", "value": "a\x00"}, "filter.value", "NUL"),
        ({"event": "a\x00"}, "filter.event", "event type"),
        ({"field": "status", "op": "in", "value": []}, "filter.value", "non-empty list"),
        ({"field": "status", "op": "in", "value": ["a", 1]}, "filter.value[1]", "non-blank"),
        ({"field": "engagement_score", "op": "between", "value": [1]}, "filter.value",
         "[low, high]"),
        ({"field": "enrichment.size", "op": "gte", "value": "50"}, "filter.value",
         "expected a number"),
        ({"field": "engagement_score", "op": "eq", "value": float("nan")}, "filter.value",
         "finite"),
        ({"field": "engagement_score", "op": "eq", "value": True}, "filter.value", "number"),
        ({"field": "created_at", "op": "gt", "value": "yesterday"}, "filter.value", "ISO date"),
        ({"field": "created_at", "op": "lt", "value": "0001-01-01"}, "filter.value", "years"),
        ({"field": "created_at", "op": "gt", "value": "9999-12-31"}, "filter.value", "years"),
        ({"field": "created_at", "op": "in_period", "value": "next_week"}, "filter.value",
         "this_month"),
        ({"field": "created_at", "op": "within_last", "value": -1}, "filter.value", "days"),
        ({"field": "custom.nope", "op": "eq", "value": 1}, "filter.field",
         "unknown custom field"),
        ({"field": "custom.vip", "op": "eq", "value": "yes"}, "filter.value", "true or false"),
        ({"field": "enrichment.a..b", "op": "is_null"}, "filter.field", "bad path segment"),
        ({"field": "enrichment.0", "op": "is_null"}, "filter.field", "bad path segment"),
        ({"field": "enrichment.a\n", "op": "is_null"}, "filter.field", "bad path segment"),
        ({"field": "status", "op": "eq", "value": "x", "extra": 1}, "filter.extra", "unexpected"),
        ({"event": ""}, "filter.event", "event type"),
        ({"event": "x", "min_count": -1}, "filter.min_count", "whole number"),
        ({"event": "x", "min_count": 3, "max_count": 2}, "filter.max_count", "from 3"),
        ({"event": "x", "within_days": 0}, "filter.within_days", "from 1"),
        ({"event": "x", "performed": "no"}, "filter.performed", "true or false"),
        ({"event": "x", "where": {"in_list": 1}}, "filter.where", "not allowed inside"),
        ({"event": "x", "where": {"field": "a", "op": "gt", "value": "1"}}, "filter.where.value",
         "number"),
        ({"in_segment": "12"}, "filter.in_segment", "positive integer"),
        ({"in_list": 0}, "filter.in_list", "positive integer"),
    ],
)  # fmt: skip
def test_errors_name_the_path(data: Any, path: str, message: str) -> None:
    error = _error(data)
    assert error.path == path, error
    assert message in error.message, error
    assert str(error).startswith(f"{path}: ")


def _nested(depth: int) -> Any:
    node: Any = {"field": "status", "op": "is_null"}
    for _ in range(depth - 1):
        node = {"not": node}
    return node


def test_depth_limit() -> None:
    parse_filter(_nested(10), P)
    error = _error(_nested(11))
    assert "too deeply nested" in error.message
    assert error.path == "filter" + ".not" * 10
    assert "too deeply nested" in _error(_nested(100_000)).message


def test_condition_limit() -> None:
    condition = {"field": "status", "op": "is_null"}
    parse_filter({"or": [condition] * 200}, P)
    error = _error({"or": [condition] * 201})
    assert error.path == "filter.or[200]"
    assert "at most 200" in error.message
    where = {"or": [condition] * 150}
    assert "at most 200" in _error({"and": [where, {"event": "x", "where": where}]}).message


def test_references_need_a_source_to_be_checked() -> None:
    source = MemorySegmentSource({1: {"in_segment": 2}, 2: {"field": "status", "op": "is_null"}})
    assert parse_filter({"in_segment": 1}, P, source) == SegmentRef(1)
    with pytest.raises(InvalidInput, match="unknown list 4"):
        parse_filter({"in_list": 4}, P, source)
    with pytest.raises(InvalidInput, match="itself"):
        parse_filter({"in_segment": 2}, P, source, segment_id=2)
    with pytest.raises(InvalidInput, match="cycle"):
        parse_filter({"in_segment": 1}, P, source, segment_id=2)


@settings(max_examples=200, deadline=None)
@given(filters())
def test_json_round_trip(data: Any) -> None:
    try:
        tree = parse_filter(data, P)
    except InvalidInput as error:
        assert "too deeply nested" in error.message
        return
    assert parse_filter(to_json(tree), P) == tree
    assert to_json(parse_filter(to_json(tree), P)) == to_json(tree)
