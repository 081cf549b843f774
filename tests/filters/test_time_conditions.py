"""Event conditions over time (contract 3b): a window in the past, distinct days, aggregates of a
metadata number and distinct event types, on Python, SQLite, PostgreSQL and the index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from segmint.errors import InvalidInput
from segmint.filters import parse_filter, parse_text, to_json, to_text
from segmint.projects import Project
from tests.filters.harness import LeadSpec, check
from tests.filters.strategies import OFFLINE_PROJECT, project_like

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _event(kind: str, days_ago: float, **metadata: Any) -> dict[str, Any]:
    return {"type": kind, "occurred_at": NOW - timedelta(days=days_ago), "metadata": metadata}


LEADS = [
    LeadSpec(events=[_event("purchase", 1, amount=100), _event("purchase", 2, amount=450),
                     _event("purchase", 40, amount=1000)]),
    LeadSpec(events=[_event("purchase", 45, amount=200), _event("login", 1),
                     _event("login", 1.1), _event("login", 3)]),  # two logins the same day
    LeadSpec(events=[_event("purchase", 5, amount="500")]),  # a string: no number to add
    LeadSpec(),
    LeadSpec(events=[_event("view", 1), _event("signup", 2), _event("purchase", 50, amount=5)]),
]  # fmt: skip


def _sum(op: str, value: Any, fn: str = "sum") -> dict[str, Any]:
    return {"fn": fn, "path": "amount", "op": op, "value": value}


CASES = [
    ({"event": "purchase", "within_days": 60, "older_than_days": 30}, [0, 1, 4]),
    ({"event": "purchase", "older_than_days": 42}, [1, 4]),
    ({"event": "purchase", "within_days": 40, "older_than_days": 1}, [0, 2]),
    ({"event": "purchase", "within_days": 90, "aggregate": _sum("gte", 500)}, [0]),
    ({"event": "purchase", "within_days": 30, "aggregate": _sum("gte", 551)}, []),
    ({"event": "purchase", "within_days": 30, "aggregate": _sum("eq", 550)}, [0]),
    ({"event": "purchase", "aggregate": _sum("between", [100, 600], "avg")}, [0, 1]),
    ({"event": "purchase", "aggregate": _sum("neq", 200, "max")}, [0, 2, 4]),  # null: neq
    ({"event": "purchase", "min_count": 0, "aggregate": _sum("neq", 200, "max")}, [0, 2, 3, 4]),
    ({"event": "purchase", "aggregate": _sum("lt", 100, "min")}, [4]),
    ({"event": "purchase", "min_count": 2, "aggregate": _sum("gt", 0)}, [0]),
    ({"event": "login", "min_distinct_days": 2}, [1]),
    ({"event": "login", "min_distinct_days": 3}, []),
    ({"event": "login", "within_days": 2, "min_distinct_days": 1}, [1]),
    ({"distinct_events": 2, "within_days": 7}, [4]),
    ({"distinct_events": 2}, [1, 4]),
    ({"distinct_events": 3}, [4]),
    ({"distinct_events": 1, "types": ["signup", "login"]}, [1, 4]),
    ({"distinct_events": 2, "types": ["signup", "login"]}, []),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_conditions_over_time(
    db: Engine, project: Project, data: dict[str, Any], expected: list[int]
) -> None:
    check(db, project, data, LEADS, expected, NOW)
    check(db, project, {"not": data}, LEADS, [i for i in range(5) if i not in expected], NOW)
    if "event" in data:  # "performed": false is exactly the negation
        negated = {**data, "performed": False}
        check(db, project, negated, LEADS, [i for i in range(5) if i not in expected], NOW)


def test_distinct_days_are_the_projects_local_days(db: Engine, project: Project) -> None:
    """20:00 and 02:00 UTC the next day are two days in UTC, one evening in New York."""
    evening = datetime(2026, 10, 30, 20, 0, tzinfo=UTC)
    events = [
        {"type": "login", "occurred_at": evening, "metadata": {}},
        {"type": "login", "occurred_at": evening + timedelta(hours=6), "metadata": {}},
    ]
    data = {"event": "login", "min_distinct_days": 2}
    check(db, project_like(project, "UTC"), data, [LeadSpec(events=events)], [0], NOW)
    new_york = project_like(project, "America/New_York")
    check(db, new_york, data, [LeadSpec(events=events)], [], NOW)


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"event": "x", "within_days": 30, "older_than_days": 30}, "filter.older_than_days",
         "less than within_days"),
        ({"event": "x", "older_than_days": 0}, "filter.older_than_days", "whole number"),
        ({"event": "x", "min_distinct_days": 0}, "filter.min_distinct_days", "whole number"),
        ({"event": "x", "aggregate": {"fn": "median", "path": "a", "op": "eq", "value": 1}},
         "filter.aggregate.fn", "sum, avg, min, max"),
        ({"event": "x", "aggregate": {"fn": "sum", "path": "a b", "op": "eq", "value": 1}},
         "filter.aggregate.path", "bad path segment"),
        ({"event": "x", "aggregate": {"fn": "sum", "path": "a", "op": "in", "value": [1]}},
         "filter.aggregate.op", "between"),
        ({"event": "x", "aggregate": {"fn": "sum", "path": "a", "op": "eq", "value": "1"}},
         "filter.aggregate.value", "number"),
        ({"event": "x", "aggregate": {"fn": "sum", "path": "a", "op": "between", "value": [1]}},
         "filter.aggregate.value", "[low, high]"),
        ({"event": "x", "aggregate": {"fn": "sum", "path": "a", "op": "eq"}},
         "filter.aggregate.value", "required"),
        ({"and": [{"distinct_events": 0}]}, "filter.and[0].distinct_events", "whole number"),
        ({"distinct_events": 3, "types": ["a", "b"]}, "filter.distinct_events", "at most"),
        ({"distinct_events": 1, "types": ["a", "a"]}, "filter.types[1]", "twice"),
        ({"distinct_events": 1, "types": []}, "filter.types", "list of 1"),
        ({"distinct_events": 1, "since": 3}, "filter.since", "unexpected key"),
        ({"event": "x", "where": {"distinct_events": 1}}, "filter.where", "not allowed"),
    ],
)  # fmt: skip
def test_bad_options_name_their_path(data: Any, path: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_filter(data, OFFLINE_PROJECT)
    assert caught.value.path == path
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('performed "login" within 60 days older than 30 days',
         {"event": "login", "within_days": 60, "older_than_days": 30}),
        ('performed "login" on at least 3 days within 30 days',
         {"event": "login", "within_days": 30, "min_distinct_days": 3}),
        ('performed "purchase" within 90 days with sum(amount) >= 500',
         {"event": "purchase", "within_days": 90,
          "aggregate": {"fn": "sum", "path": "amount", "op": "gte", "value": 500}}),
        ('did not perform "purchase" with avg(order.total) between 10 and 20.5',
         {"event": "purchase", "performed": False,
          "aggregate": {"fn": "avg", "path": "order.total", "op": "between", "value": [10, 20.5]}}),
        ("performed 3 distinct events within 30 days",
         {"distinct_events": 3, "within_days": 30}),
        ('performed 2 distinct events of ("webinar", "demo") within 7 days',
         {"distinct_events": 2, "within_days": 7, "types": ["webinar", "demo"]}),
    ],
)  # fmt: skip
def test_text_syntax(text: str, expected: dict[str, Any]) -> None:
    tree = parse_text(text, OFFLINE_PROJECT)
    assert to_json(tree) == expected
    assert parse_text(to_text(tree), OFFLINE_PROJECT) == tree


def test_text_syntax_refuses_an_unknown_aggregate() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_text('performed "x" with median(amount) > 1', OFFLINE_PROJECT)
    assert caught.value.path == "filter.aggregate.fn"
