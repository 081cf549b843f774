"""Filters against a database connection: validate with the stored segments and lists, compile
for the connection's dialect, load a lead with everything a filter can look at."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from segmint.errors import NotFound
from segmint.filters.evaluate import explain
from segmint.filters.parse import parse_filter
from segmint.filters.source import DbSegmentSource
from segmint.filters.to_sql import compile_filter, select_lead_ids
from segmint.filters.tree import Node
from segmint.projects import Project
from segmint.store.tables import accounts, events, leads, list_members


def load_lead(
    conn: sa.Connection, project_id: int, lead_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The lead (columns, `account`, `list_ids`) and its events, as `evaluate` takes them."""
    row = conn.execute(
        sa.select(leads).where(leads.c.project_id == project_id, leads.c.id == lead_id)
    ).first()
    if row is None:
        raise NotFound(f"no lead {lead_id}")
    lead: dict[str, Any] = dict(row._mapping)
    lead["account"] = _account(conn, project_id, lead["account_id"])
    lead["list_ids"] = frozenset(
        conn.execute(
            sa.select(list_members.c.list_id).where(
                list_members.c.project_id == project_id, list_members.c.lead_id == lead_id
            )
        ).scalars()
    )
    rows = conn.execute(
        sa.select(events.c.type, events.c.occurred_at, events.c.metadata).where(
            events.c.project_id == project_id, events.c.lead_id == lead_id
        )
    )
    return lead, [dict(r._mapping) for r in rows]


LeadWithEvents = tuple[dict[str, Any], list[dict[str, Any]]]


def load_leads(
    conn: sa.Connection,
    project_id: int,
    lead_ids: Collection[int],
    event_types: Collection[str] | None = None,
) -> dict[int, LeadWithEvents]:
    """Several leads as `load_lead` gives them, in four queries whatever their number (events
    limited to `event_types` when given: all a filter can look at)."""
    ids = sorted(set(lead_ids))
    found: dict[int, LeadWithEvents] = {}
    rows = conn.execute(
        sa.select(leads).where(leads.c.project_id == project_id, leads.c.id.in_(ids))
    )
    for row in rows:
        found[row.id] = ({**row._mapping, "account": None, "list_ids": frozenset()}, [])
    account_ids = {lead["account_id"] for lead, _ in found.values() if lead["account_id"]}
    account_rows = conn.execute(
        sa.select(accounts).where(
            accounts.c.project_id == project_id, accounts.c.id.in_(sorted(account_ids))
        )
    )
    by_id = {row.id: dict(row._mapping) for row in account_rows}
    memberships: dict[int, set[int]] = {}
    for lead_id, list_id in conn.execute(
        sa.select(list_members.c.lead_id, list_members.c.list_id).where(
            list_members.c.project_id == project_id, list_members.c.lead_id.in_(ids)
        )
    ):
        memberships.setdefault(lead_id, set()).add(list_id)
    for lead_id, (lead, _) in found.items():
        lead["account"] = by_id.get(lead["account_id"])
        lead["list_ids"] = frozenset(memberships.get(lead_id, ()))
    query = sa.select(
        events.c.lead_id, events.c.type, events.c.occurred_at, events.c.metadata
    ).where(events.c.project_id == project_id, events.c.lead_id.in_(ids))
    if event_types is not None:
        query = query.where(events.c.type.in_(sorted(event_types)))
    for row in conn.execute(query):
        if row.lead_id in found:
            event = {"type": row.type, "occurred_at": row.occurred_at, "metadata": row.metadata}
            found[row.lead_id][1].append(event)
    return found


def _account(conn: sa.Connection, project_id: int, account_id: int | None) -> Any:
    if account_id is None:
        return None
    row = conn.execute(
        sa.select(accounts).where(accounts.c.project_id == project_id, accounts.c.id == account_id)
    ).first()
    return None if row is None else dict(row._mapping)


def validate(
    conn: sa.Connection, project: Project, data: Any, *, segment_id: int | None = None
) -> Node:
    """Filter JSON -> tree, checking `in_segment` / `in_list` against the project's tables."""
    return parse_filter(data, project, DbSegmentSource(conn, project.id), segment_id=segment_id)


def lead_condition(
    conn: sa.Connection, project: Project, node: Node, now: datetime
) -> ColumnElement[bool]:
    """The filter as a boolean over `leads` for this connection's database (not project-scoped:
    add `leads.c.project_id == project.id`, or use `lead_ids_query`)."""
    return compile_filter(node, project, now, conn.dialect.name, DbSegmentSource(conn, project.id))


def lead_ids_query(
    conn: sa.Connection, project: Project, node: Node, now: datetime
) -> sa.Select[tuple[int]]:
    """`SELECT leads.id ... WHERE project_id = :p AND <filter>` for this connection's database."""
    source = DbSegmentSource(conn, project.id)
    return select_lead_ids(node, project, now, conn.dialect.name, source)


def explain_lead(
    conn: sa.Connection, project: Project, node: Node, lead_id: int, now: datetime
) -> dict[str, Any]:
    """Why a stored lead does or does not match: `explain` over the lead as stored."""
    lead, lead_events = load_lead(conn, project.id, lead_id)
    source = DbSegmentSource(conn, project.id)
    return explain(node, lead, lead_events, now, project=project, segments=source)
