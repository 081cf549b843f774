"""Parity: for random filters, leads and events, Python evaluation == SQL on SQLite and PostgreSQL.

The `db` fixture runs this once per backend, so together the runs assert
Python == SQLite == PostgreSQL. Each example inserts its leads in a transaction that is rolled
back, so examples never see each other's data.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from segmint.engine.filtering import StoredSegments
from segmint.errors import InvalidInput
from segmint.filters import parse_filter
from segmint.projects import Project
from tests.filters.harness import LeadSpec, add_segment, ensure_lists, insert_leads, matches
from tests.filters.strategies import (
    NOW,
    STORED_SEGMENT,
    filters,
    json_leads,
    json_text_filters,
    leads,
    project_like,
)

ZONES = ["UTC", "America/New_York", "Asia/Kolkata"]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=filters(), people=st.lists(leads(), min_size=1, max_size=5), zone=st.sampled_from(ZONES)
)
def test_python_and_sql_agree(
    db: Engine, project: Project, data: Any, people: list[LeadSpec], zone: str
) -> None:
    configured = project_like(project, zone)
    with db.connect() as conn:
        transaction = conn.begin()
        try:
            ensure_lists(conn, project.id, [1, 2])
            add_segment(conn, project.id, 1, STORED_SEGMENT)
            ids = insert_leads(conn, project.id, people)
            try:
                node = parse_filter(data, configured, StoredSegments(conn, project.id))
            except InvalidInput as error:
                assume("too deeply nested" not in error.message)
                raise
            sql, python = matches(conn, configured, node, NOW, ids)
        finally:
            transaction.rollback()
    assert sql == python, f"{conn.dialect.name} {sorted(sql)} != python {sorted(python)}"


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=json_text_filters(), people=st.lists(json_leads(), min_size=1, max_size=5))
def test_text_operators_on_json_agree(
    db: Engine, project: Project, data: Any, people: list[LeadSpec]
) -> None:
    """Text operators read untyped JSON arrays by their string elements: random trees of them
    over random JSON (arrays of the filters' words, mixed ones), on the four backends."""
    configured = project_like(project)
    with db.connect() as conn:
        transaction = conn.begin()
        try:
            ids = insert_leads(conn, project.id, people)
            node = parse_filter(data, configured)
            sql, python = matches(conn, configured, node, NOW, ids)
        finally:
            transaction.rollback()
    assert sql == python, f"{conn.dialect.name} {sorted(sql)} != python {sorted(python)}"
