"""The filter language as the engine uses it: validated against the project's stored segments
and lists, compiled for the connection's database, evaluated for one lead."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from segmint.auth import Principal
from segmint.clock import SYSTEM_CLOCK
from segmint.errors import InvalidInput
from segmint.filters import compile_filter, evaluate, explain, load_lead, parse_filter, to_json
from segmint.filters.parse import check_readable, check_readable_refs, stored_segment_ids
from segmint.filters.source import DbSegmentSource
from segmint.filters.syntax import parse_text as _parse_text
from segmint.filters.syntax import to_text
from segmint.filters.tree import Node
from segmint.projects import Project

__all__ = ["referenced_segments", "to_json", "to_text"]

SEARCHED_FIELDS = ("name", "email", "company")


def source_for(conn: sa.Connection, project: Project, reader: Principal | None) -> DbSegmentSource:
    """The project's segments and lists as `reader` may refer to them (None: the system, which
    may refer to all). Lists are the project's shared data: anyone in it may read them."""
    only = reader.user_id if reader is not None and reader.reads_only_own_segments else None
    return DbSegmentSource(conn, project.id, only_created_by=only)


def validate(
    conn: sa.Connection,
    project: Project,
    data: Any,
    segment_id: int | None = None,
    *,
    reader: Principal | None,
) -> Node:
    """A filter from user input, checked against the project's fields, segments and lists:
    every segment it refers to must be one `reader` may read (403 naming the reference)."""
    if data is None:
        raise InvalidInput("a segment needs at least one condition", "filter")
    source = source_for(conn, project, reader)
    return parse_filter(data, project, source, segment_id=segment_id)


def check_stored_readable(
    conn: sa.Connection, project: Project, reader: Principal, stored: Any
) -> None:
    """A saved filter may be evaluated for `reader` only when it reaches no segment they may
    not read; else 403 naming the reference."""
    if reader.reads_only_own_segments:
        check_readable(stored, source_for(conn, project, reader))


def check_segments_readable(
    conn: sa.Connection, project: Project, reader: Principal, refs: list[tuple[int, str]]
) -> None:
    """Segments named outside a filter (a campaign's targeting), each with its JSON path, under
    the same rule as `in_segment`."""
    if reader.reads_only_own_segments:
        check_readable_refs(refs, source_for(conn, project, reader))


def parse_text(
    conn: sa.Connection, project: Project, text: str, *, reader: Principal | None
) -> Node:
    return _parse_text(text, project, source_for(conn, project, reader))


def load(project: Project, stored: Any) -> Node:
    """A stored filter (validated when saved) back into a tree."""
    return parse_filter(stored, project)


def referenced_segments(stored: Any) -> set[int]:
    return stored_segment_ids(stored)


def condition(
    conn: sa.Connection,
    project: Project,
    node: Node,
    now: datetime | None = None,
    lead_ids: Collection[int] | None = None,
) -> sa.ColumnElement[bool]:
    """The filter as a boolean over `leads` for this connection's database (right only for
    `lead_ids`, when given: the caller must limit the query to them)."""
    return compile_filter(
        node,
        project,
        now or SYSTEM_CLOCK.now(),
        conn.dialect.name,
        DbSegmentSource(conn, project.id),
        lead_ids,
    )


def search_condition(
    conn: sa.Connection, project: Project, q: str | None, now: datetime | None = None
) -> sa.ColumnElement[bool] | None:
    """`q` searched in name, email and company with the language's `contains` rules."""
    if q is None or not q.strip():
        return None
    # Through the validator like any filter: a NUL or an over-long search is a clear 422.
    search = {"or": [{"field": f, "op": "contains", "value": q.strip()} for f in SEARCHED_FIELDS]}
    return condition(conn, project, parse_filter(search, project, path="q"), now)


def lead_condition(
    conn: sa.Connection,
    project: Project,
    filter_json: str | None,
    q: str | None,
    reader: Principal | None,
) -> sa.ColumnElement[bool] | None:
    """The `filter` (JSON text) and `q` parameters of a lead listing, combined."""
    parts: list[sa.ColumnElement[bool]] = []
    now = SYSTEM_CLOCK.now()
    if filter_json is not None and filter_json.strip():
        try:
            data = json.loads(filter_json)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"not valid JSON ({exc.msg})", "filter") from None
        parts.append(condition(conn, project, validate(conn, project, data, reader=reader), now))
    search = search_condition(conn, project, q, now)
    if search is not None:
        parts.append(search)
    return sa.and_(*parts) if parts else None


def explain_lead(conn: sa.Connection, project: Project, node: Node, lead_id: int) -> dict[str, Any]:
    """Each node's result and the lead's value: the "why they match" of a member."""
    lead, events = load_lead(conn, project.id, lead_id)
    source = DbSegmentSource(conn, project.id)
    result = explain(node, lead, events, SYSTEM_CLOCK.now(), project=project, segments=source)
    return {"lead_id": lead_id, **result}


def segments_containing(
    conn: sa.Connection, project: Project, segment_rows: list[Any], lead_id: int
) -> set[int]:
    """Ids of the given segments the lead matches now, evaluated in Python from one load."""
    lead, events = load_lead(conn, project.id, lead_id)
    source = DbSegmentSource(conn, project.id)
    now = SYSTEM_CLOCK.now()
    return {
        row.id
        for row in segment_rows
        if evaluate(load(project, row.filter), lead, events, now, project=project, segments=source)
    }
