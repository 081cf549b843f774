"""Event conditions, in_segment, in_list and explain, on Python and SQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from segmint.engine.filtering import explain_lead, validate
from segmint.errors import InvalidInput
from segmint.filters import parse_filter
from segmint.projects import Project
from tests.filters.harness import LeadSpec, add_segment, check, insert_leads

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _event(kind: str, days_ago: float, **metadata: Any) -> dict[str, Any]:
    return {"type": kind, "occurred_at": NOW - timedelta(days=days_ago), "metadata": metadata}


LEADS = [
    LeadSpec(events=[_event("page_view", 1, path="/pricing"), _event("page_view", 2, path="/docs"),
                     _event("page_view", 40, path="/pricing")]),
    LeadSpec(events=[_event("trial_signup", 3, plan="Pro"), _event("page_view", 1, path="/")]),
    LeadSpec(events=[_event("form_submit", 5, form_id="Demo-Request", score=10),
                     _event("form_submit", 6, form_id="newsletter", score="10")]),
    LeadSpec(),
    LeadSpec(events=[_event("page_view", -1, path="/pricing")]),  # in the future
]  # fmt: skip

EVENT_CASES = [
    ({"event": "page_view"}, [0, 1, 4]),
    ({"event": "page_view", "performed": False}, [2, 3]),
    ({"event": "page_view", "min_count": 2}, [0]),
    ({"event": "page_view", "min_count": 3}, [0]),
    ({"event": "page_view", "min_count": 2, "within_days": 30}, [0]),
    ({"event": "page_view", "min_count": 1, "max_count": 1}, [1, 4]),
    ({"event": "page_view", "min_count": 0, "max_count": 1}, [1, 2, 3, 4]),
    ({"event": "page_view", "min_count": 0}, [0, 1, 2, 3, 4]),
    ({"event": "page_view", "within_days": 2}, [0, 1]),
    ({"event": "page_view", "where": {"field": "path", "op": "contains", "value": "PRICING"}},
     [0, 4]),
    ({"event": "page_view", "within_days": 7,
      "where": {"field": "path", "op": "eq", "value": "/pricing"}}, [0]),
    ({"event": "form_submit", "where": {"field": "form_id", "op": "contains", "value": "demo"}},
     [2]),
    ({"event": "form_submit", "where": {"field": "score", "op": "gte", "value": 10}}, [2]),
    ({"event": "form_submit", "min_count": 2,
      "where": {"not": {"field": "score", "op": "gt", "value": 10}}}, [2]),
    ({"event": "form_submit", "where": {"field": "missing.path", "op": "is_null"}}, [2]),
    ({"event": "Page_View"}, []),
    ({"and": [{"event": "trial_signup", "within_days": 14},
              {"event": "api_call", "performed": False}]}, [1]),
]  # fmt: skip


@pytest.mark.parametrize(("data", "expected"), EVENT_CASES)
def test_event_conditions(
    db: Engine, project: Project, data: dict[str, Any], expected: list[int]
) -> None:
    check(db, project, data, LEADS, expected, NOW)
    check(db, project, {"not": data}, LEADS, [i for i in range(5) if i not in expected], NOW)


ARRAY_EVENTS = [
    LeadSpec(events=[_event("page_view", 1, paths=["/docs", "/Pricing/Teams"])]),
    LeadSpec(events=[_event("page_view", 1, paths=[1, {"p": "/pricing"}, ["/pricing"]])]),
    LeadSpec(events=[_event("page_view", 1, paths="/pricing")]),
    LeadSpec(events=[_event("page_view", 1)]),
]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"field": "paths", "op": "contains", "value": "pricing"}, [0, 2]),
        ({"field": "paths", "op": "eq", "value": "/DOCS"}, [0]),
        ({"field": "paths", "op": "starts_with", "value": "/pricing"}, [0, 2]),
        ({"field": "paths", "op": "not_contains", "value": "pricing"}, [1, 3]),
    ],
)
def test_event_metadata_arrays_are_read_by_their_string_elements(
    db: Engine, project: Project, where: dict[str, Any], expected: list[int]
) -> None:
    check(db, project, {"event": "page_view", "where": where}, ARRAY_EVENTS, expected, NOW)


def test_in_list(db: Engine, project: Project) -> None:
    leads = [LeadSpec(list_ids=[3]), LeadSpec(list_ids=[4]), LeadSpec(list_ids=[3, 4]), LeadSpec()]
    check(db, project, {"in_list": 3}, leads, [0, 2], NOW)
    check(db, project, {"not": {"in_list": 4}}, leads, [0, 3], NOW)


def test_in_list_must_exist(db: Engine, project: Project) -> None:
    with db.begin() as conn, pytest.raises(InvalidInput) as error:
        validate(conn, project, {"and": [{"in_list": 99}]}, reader=None)
    assert error.value.path == "filter.and[0].in_list"


def test_in_segment_inlines_the_stored_filter(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        add_segment(conn, project.id, 12, {"field": "status", "op": "eq", "value": "new"})
        add_segment(conn, project.id, 13, {"or": [{"in_segment": 12}, {"in_list": 3}]})
    leads = [
        LeadSpec({"status": "new"}),
        LeadSpec({"status": "lost"}, list_ids=[3]),
        LeadSpec({"status": "lost"}),
    ]
    check(db, project, {"in_segment": 12}, leads, [0], NOW)
    check(db, project, {"in_segment": 13}, leads, [0, 1], NOW)
    check(db, project, {"not": {"in_segment": 13}}, leads, [2], NOW)


def test_unknown_segment_and_cycles_are_rejected(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        add_segment(conn, project.id, 1, {"field": "status", "op": "eq", "value": "new"})
        add_segment(conn, project.id, 2, {"and": [{"in_segment": 1}]})
        add_segment(conn, project.id, 3, {"not": {"in_segment": 2}})
        add_segment(conn, project.id, 4, {"in_segment": 5})  # a cycle stored behind our back
        add_segment(conn, project.id, 5, {"in_segment": 4})

        def error(data: Any, segment_id: int | None = None) -> InvalidInput:
            with pytest.raises(InvalidInput) as caught:
                validate(conn, project, data, segment_id=segment_id, reader=None)
            return caught.value

        assert error({"and": [{"in_segment": 99}]}).path == "filter.and[0].in_segment"
        assert "unknown segment 99" in error({"in_segment": 99}).message
        assert "itself" in error({"in_segment": 3}, segment_id=3).message
        # Saving segment 1 as "in segment 3" would close 1 <- 2 <- 3 <- 1.
        cycle = error({"or": [{"field": "status", "op": "is_null"}, {"in_segment": 3}]}, 1)
        assert cycle.path == "filter.or[1].in_segment"
        assert "cycle" in cycle.message
        assert "cycle" in error({"in_segment": 4}).message
        assert validate(conn, project, {"in_segment": 3}, segment_id=7, reader=None) is not None


def test_explain_reports_each_node_and_the_lead_value(db: Engine, project: Project) -> None:
    data = {
        "and": [
            {"field": "status", "op": "in", "value": ["new", "contacted"]},
            {"not": {"field": "tags", "op": "has_any", "value": ["churned"]}},
            {"event": "page_view", "min_count": 2},
            {"field": "last_contacted_at", "op": "older_than", "value": 30},
        ]
    }
    with db.begin() as conn:
        (lead_id,) = insert_leads(
            conn,
            project.id,
            [LeadSpec({"status": "New", "tags": ["vip"], "last_contacted_at": NOW}, events=[
                _event("page_view", 1), _event("page_view", 2)])],
        )  # fmt: skip
        tree = parse_filter(data, project)
        report = explain_lead(conn, project, tree, lead_id, NOW)
    json.dumps(report)  # serialisable as is
    assert report["type"] == "and" and report["result"] is False
    status, tags, event, contacted = report["children"]
    assert status == {
        "type": "condition", "field": "status", "op": "in", "value": ["new", "contacted"],
        "field_label": "Status", "op_label": "is any of", "lead_value": "New", "result": True,
    }  # fmt: skip
    assert tags["result"] is True and tags["child"]["lead_value"] == ["vip"]
    assert event == {
        "type": "event", "event": "page_view", "performed": True, "min_count": 2,
        "max_count": None, "within_days": None, "count": 2, "result": True,
    }  # fmt: skip
    assert contacted["result"] is False
    assert contacted["lead_value"].startswith("2026-11-01T12:00:00")
