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

from segmint.engine.filtering import StoredSegments, segment_tree
from segmint.errors import InvalidInput
from segmint.filters import parse_filter
from segmint.filters.parse import EXCLUDE, INCLUDE
from segmint.projects import Project
from segmint.store.tables import manual_members
from tests.filters.harness import LeadSpec, add_segment, ensure_lists, insert_leads, matches
from tests.filters.strategies import (
    NOW,
    STORED_SEGMENT,
    filters,
    json_leads,
    json_text_filters,
    leads,
    project_like,
    sequences,
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


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=filters(),
    people=st.lists(leads(), min_size=1, max_size=5),
    manual=st.lists(st.sampled_from([None, INCLUDE, EXCLUDE]), min_size=5, max_size=5),
    referenced=st.booleans(),
)
def test_manual_membership_agrees(
    db: Engine,
    project: Project,
    data: Any,
    people: list[LeadSpec],
    manual: list[str | None],
    referenced: bool,
) -> None:
    """A saved segment's members, `(filter or included) and not excluded`, over random filters
    and random includes and excludes: the same on the four backends, whether the segment is
    asked directly or through `in_segment`."""
    configured = project_like(project)
    with db.connect() as conn:
        transaction = conn.begin()
        try:
            ensure_lists(conn, project.id, [1, 2])
            add_segment(conn, project.id, 1, STORED_SEGMENT)
            ids = insert_leads(conn, project.id, people)
            source = StoredSegments(conn, project.id)
            try:
                parse_filter(data, configured, source)
            except InvalidInput as error:
                assume("too deeply nested" not in error.message)
                raise
            add_segment(conn, project.id, 2, data)
            rows = [
                {"project_id": project.id, "segment_id": 2, "lead_id": lead_id, "kind": kind,
                 "added_at": NOW}
                for lead_id, kind in zip(ids, manual, strict=False)
                if kind is not None
            ]  # fmt: skip
            if rows:
                conn.execute(manual_members.insert(), rows)
            if referenced:
                node = parse_filter({"in_segment": 2}, configured, source)
            else:
                node = segment_tree(conn, configured, 2, data)
            sql, python = matches(conn, configured, node, NOW, ids)
            tree = parse_filter(data, configured, source)
            plain = {i for i in ids if i in matches(conn, configured, tree, NOW, ids)[1]}
        finally:
            transaction.rollback()
    assert sql == python, f"{conn.dialect.name} {sorted(sql)} != python {sorted(python)}"
    kinds = dict(zip(ids, manual, strict=False))
    expected = {
        i for i in ids if (i in plain or kinds.get(i) == INCLUDE) and kinds.get(i) != EXCLUDE
    }
    assert python == expected


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.one_of(sequences(), sequences().map(lambda s: {"not": s})),
    people=st.lists(leads(), min_size=1, max_size=6),
)
def test_sequences_agree(db: Engine, project: Project, data: Any, people: list[LeadSpec]) -> None:
    """Sequences over random events, many at the same moment or whole days apart: strictly
    increasing times, an inclusive within_days, since_days and a strictly-between not_between
    agree on the four backends."""
    configured = project_like(project)
    with db.connect() as conn:
        transaction = conn.begin()
        try:
            # Leads may hold a maintained membership of segment 1 (time in segment reads it).
            add_segment(conn, project.id, 1, STORED_SEGMENT)
            ids = insert_leads(conn, project.id, people)
            node = parse_filter(data, configured)
            sql, python = matches(conn, configured, node, NOW, ids)
        finally:
            transaction.rollback()
    assert sql == python, f"{conn.dialect.name} {sorted(sql)} != python {sorted(python)}"
