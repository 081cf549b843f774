"""Account segments' filters by example: account fields, the `leads` node's bounds, account
segments named by `in_segment` and `in_account_segment`, and the 422s naming the JSON path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from segmint.engine.filtering import StoredSegments
from segmint.errors import InvalidInput
from segmint.filters import parse_filter, to_json
from segmint.filters.source import MemorySegmentSource
from segmint.projects import Project
from tests.filters.harness import (
    AccountSpec,
    LeadSpec,
    account_matches,
    add_account_segment,
    insert_accounts,
    lead_matches_through_accounts,
)
from tests.filters.strategies import NOW, OFFLINE_PROJECT

HOT = {"field": "engagement_level", "op": "eq", "value": "Hot"}


def _companies() -> list[AccountSpec]:
    hot, cold = LeadSpec({"engagement_level": "Hot"}), LeadSpec({"engagement_level": "Cold"})
    demo = LeadSpec(
        {"engagement_level": "Cold"},
        events=[{"type": "demo_request", "occurred_at": NOW - timedelta(days=3)}],
    )
    return [
        AccountSpec({"name": "Acme", "domain": "acme.com", "metadata": {"tier": "gold"}},
                    [hot, hot, hot, cold]),
        AccountSpec({"name": "Globex", "domain": "globex.io", "metadata": {"tier": "silver"}},
                    [hot, demo]),
        AccountSpec({"name": "Initech", "domain": None, "metadata": {}}, []),
    ]  # fmt: skip


CASES: list[tuple[Any, set[int]]] = [
    ({"leads": HOT, "min_count": 3}, {0}),
    ({"leads": HOT}, {0, 1}),
    ({"leads": HOT, "min_count": 0, "max_count": 0}, {2}),
    ({"not": {"leads": HOT, "max_count": 1}}, {0, 2}),
    ({"leads": {"event": "demo_request", "within_days": 30}}, {1}),
    ({"field": "domain", "op": "ends_with", "value": ".io"}, {1}),
    ({"field": "domain", "op": "is_null"}, {2}),
    ({"field": "metadata.tier", "op": "eq", "value": "gold"}, {0}),
    ({"and": [{"field": "name", "op": "neq", "value": "acme"}, {"leads": HOT}]}, {1}),
    ({"leads": {"field": "account.metadata.tier", "op": "eq", "value": "silver"}}, {1}),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_account_filters_match(db: Engine, project: Project, data: Any, expected: set[int]) -> None:
    with db.begin() as conn:
        account_ids, _ = insert_accounts(conn, project.id, _companies())
        node = parse_filter(data, project, audience="accounts")
        assert parse_filter(to_json(node), project, audience="accounts") == node
        sql, python = account_matches(conn, project, node, NOW, account_ids)
        conn.rollback()
    want = {account_ids[i] for i in expected}
    assert python == want
    assert sql == want


def test_in_segment_and_in_account_segment(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        account_ids, lead_ids = insert_accounts(conn, project.id, _companies())
        add_account_segment(conn, project.id, 1, {"leads": HOT, "min_count": 3})
        source = StoredSegments(conn, project.id)
        node = parse_filter({"not": {"in_segment": 1}}, project, source, audience="accounts")
        sql, python = account_matches(conn, project, node, NOW, account_ids)
        assert sql == python == set(account_ids[1:])
        leads_of_acme = set(lead_ids[:4])
        node = parse_filter({"in_account_segment": 1}, project, source)
        sql, python = lead_matches_through_accounts(conn, project, node, NOW, lead_ids)
        assert sql == python == leads_of_acme
        node = parse_filter({"not": {"in_account_segment": 1}}, project, source)
        sql, python = lead_matches_through_accounts(conn, project, node, NOW, lead_ids)
        assert sql == python == set(lead_ids) - leads_of_acme
        conn.rollback()


@pytest.mark.parametrize(
    ("data", "audience", "path", "words"),
    [
        (
            {"field": "job_title", "op": "eq", "value": "x"},
            "accounts",
            "filter.field",
            "unknown account field",
        ),
        ({"and": [{"event": "view"}]}, "accounts", "filter.and[0]", "inside a 'leads' node"),
        (
            {"leads": {"field": "domain", "op": "is_null"}},
            "accounts",
            "filter.leads.field",
            "unknown field",
        ),
        ({"leads": HOT}, "leads", "filter", "account segment"),
        ({"leads": HOT, "min_count": 2, "max_count": 1}, "accounts", "filter.max_count", "from 2"),
        ({"in_account_segment": 5}, "leads", "filter.in_account_segment", "unknown segment 5"),
        ({"in_account_segment": 1}, "leads", "filter.in_account_segment", "is a lead segment"),
        ({"in_segment": 2}, "leads", "filter.in_segment", "in_account_segment"),
        ({"in_segment": 1}, "accounts", "filter.in_segment", "is a lead segment"),
        (
            {"or": [{"leads": {"in_segment": 2}}]},
            "accounts",
            "filter.or[0].leads.in_segment",
            "in_account_segment",
        ),
    ],
)
def test_refused_with_the_path(data: Any, audience: str, path: str, words: str) -> None:
    source = MemorySegmentSource({1: HOT, 2: {"leads": HOT}}, audiences={2: "accounts"})
    with pytest.raises(InvalidInput) as caught:
        parse_filter(data, OFFLINE_PROJECT, source, audience=audience)
    assert caught.value.path == path
    assert words in caught.value.message
