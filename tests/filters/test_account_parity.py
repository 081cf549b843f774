"""Parity for account segments: random account filters (account fields, `leads` nodes over
random lead filters, `in_segment` of another account segment) over random accounts with leads,
and lead filters reaching an account segment through `in_account_segment`: Python == SQL, on
SQLite and PostgreSQL (the `db` fixture runs each once per backend).

The columnar index declines both (docs/decisions.md), so it is not compared here."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from segmint.engine.filtering import StoredSegments
from segmint.errors import InvalidInput
from segmint.filters import parse_filter
from segmint.projects import Project
from tests.filters.harness import (
    AccountSpec,
    account_matches,
    add_account_segment,
    add_segment,
    ensure_lists,
    insert_accounts,
    lead_matches_through_accounts,
)
from tests.filters.strategies import (
    NOW,
    STORED_ACCOUNT_SEGMENT,
    STORED_SEGMENT,
    account_filters,
    accounts_with_leads,
    lead_filters_with_accounts,
    project_like,
)

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _prepare(
    conn: Any, project: Project, companies: list[AccountSpec]
) -> tuple[list[int], list[int]]:
    ensure_lists(conn, project.id, [1, 2])
    add_segment(conn, project.id, 1, STORED_SEGMENT)
    add_account_segment(conn, project.id, 3, STORED_ACCOUNT_SEGMENT)
    return insert_accounts(conn, project.id, companies)


def _parsed(data: Any, project: Project, conn: Any, audience: str) -> Any:
    try:
        return parse_filter(data, project, StoredSegments(conn, project.id), audience=audience)
    except InvalidInput as error:
        assume("too deeply nested" not in error.message and "too many" not in error.message)
        raise


@SETTINGS
@given(data=account_filters(), companies=st.lists(accounts_with_leads(), min_size=1, max_size=4))
def test_account_filters_agree(
    db: Engine, project: Project, data: Any, companies: list[AccountSpec]
) -> None:
    configured = project_like(project, "America/New_York")
    with db.connect() as conn:
        transaction = conn.begin()
        try:
            account_ids, _ = _prepare(conn, configured, companies)
            node = _parsed(data, configured, conn, "accounts")
            sql, python = account_matches(conn, configured, node, NOW, account_ids)
        finally:
            transaction.rollback()
    assert sql == python, f"{conn.dialect.name} {sorted(sql)} != python {sorted(python)}"


@SETTINGS
@given(
    data=lead_filters_with_accounts(),
    companies=st.lists(accounts_with_leads(), min_size=1, max_size=4),
)
def test_lead_filters_through_account_segments_agree(
    db: Engine, project: Project, data: Any, companies: list[AccountSpec]
) -> None:
    configured = project_like(project)
    with db.connect() as conn:
        transaction = conn.begin()
        try:
            _, lead_ids = _prepare(conn, configured, companies)
            node = _parsed(data, configured, conn, "leads")
            sql, python = lead_matches_through_accounts(conn, configured, node, NOW, lead_ids)
        finally:
            transaction.rollback()
    assert sql == python, f"{conn.dialect.name} {sorted(sql)} != python {sorted(python)}"
