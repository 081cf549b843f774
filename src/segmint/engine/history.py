"""Reading membership history: who entered and left, when, under which version, and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from segmint.clock import as_utc
from segmint.engine.leads import full_name
from segmint.errors import InvalidInput
from segmint.projects import Project
from segmint.store.tables import (
    account_membership_history,
    accounts,
    leads,
    membership_history,
    segments,
)

MAX_LIMIT = 1000


def _item(row: Any) -> dict[str, Any]:
    item = {
        "id": row.id,
        "segment_id": row.segment_id,
        "lead_id": row.lead_id,
        "change": row.change,
        "at": as_utc(row.at),
        "segment_version": row.segment_version,
        "reason": row.reason,
        "detail": row.detail,
    }
    if "segment_name" in row._fields:
        item["segment_name"] = row.segment_name
    if "lead_email" in row._fields:
        item["lead_name"] = row.lead_name
        item["lead_email"] = row.lead_email
    return item


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"must be between 1 and {MAX_LIMIT}", "limit")


def segment_history(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    lead_id: int | None = None,
    since: datetime | None = None,
    after: int | None = None,
    limit: int = 100,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """A segment's history, oldest first (or newest first), each row with its lead's name and
    email (None once the lead is deleted: read in the same query, not a query a row); `after`
    (a row id) pages on without OFFSET."""
    _check_limit(limit)
    h = membership_history.c
    query = (
        sa.select(
            membership_history,
            sa.func.nullif(full_name(), "").label("lead_name"),
            leads.c.email.label("lead_email"),
        )
        .join(
            leads,
            sa.and_(leads.c.project_id == h.project_id, leads.c.id == h.lead_id),
            isouter=True,
        )
        .where(h.project_id == project.id, h.segment_id == segment_id)
    )
    if lead_id is not None:
        query = query.where(h.lead_id == lead_id)
    page = _Page(since, after, limit, newest_first)
    return [_item(r) for r in page.rows(conn, project, query, membership_history)]


@dataclass(frozen=True)
class _Page:
    """Which rows of a history to read: since a moment, after a row, how many, which way."""

    since: datetime | None
    after: int | None
    limit: int
    newest_first: bool

    def rows(
        self, conn: sa.Connection, project: Project, query: sa.Select[Any], table: sa.Table
    ) -> sa.CursorResult[Any]:
        h = table.c
        if self.since is not None:
            query = query.where(h.at >= as_utc(self.since))
        if self.after is not None:
            query = query.where(_after_row(conn, project, self.after, self.newest_first, table))
        order = (h.at.desc(), h.id.desc()) if self.newest_first else (h.at, h.id)
        return conn.execute(query.order_by(*order).limit(self.limit))


def _after_row(
    conn: sa.Connection,
    project: Project,
    after: int,
    newest_first: bool = False,
    table: sa.Table = membership_history,
) -> sa.ColumnElement[bool]:
    """Rows after row `after` in (at, id) order (or its reverse): ids alone are not in `at`
    order, since a time sweep stamps its rows with the (earlier) instant each condition
    flipped."""
    h = table.c
    at = conn.execute(
        sa.select(h.at).where(h.project_id == project.id, h.id == after)
    ).scalar_one_or_none()
    if at is None:
        raise InvalidInput(f"no history row {after}", "after")
    if newest_first:
        return sa.or_(h.at < at, sa.and_(h.at == at, h.id < after))
    return sa.or_(h.at > at, sa.and_(h.at == at, h.id > after))


def lead_history(
    conn: sa.Connection, project: Project, lead_id: int, after: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """One lead's entries and exits across segments, newest first, with segment names."""
    _check_limit(limit)
    h = membership_history.c
    query = (
        sa.select(membership_history, segments.c.name.label("segment_name"))
        .join(
            segments,
            sa.and_(segments.c.project_id == h.project_id, segments.c.id == h.segment_id),
            isouter=True,
        )
        .where(h.project_id == project.id, h.lead_id == lead_id)
    )
    if after is not None:
        query = query.where(sa.not_(_after_row(conn, project, after)), h.id != after)
    rows = conn.execute(query.order_by(h.at.desc(), h.id.desc()).limit(limit))
    return [_item(r) for r in rows]


def _account_item(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "segment_id": row.segment_id,
        "account_id": row.account_id,
        "change": row.change,
        "at": as_utc(row.at),
        "segment_version": row.segment_version,
        "reason": row.reason,
        "detail": row.detail,
        "account_name": row.account_name,
        "account_domain": row.account_domain,
    }


def account_segment_history(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    account_id: int | None = None,
    since: datetime | None = None,
    after: int | None = None,
    limit: int = 100,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """An account segment's history, as `segment_history` reads a lead segment's: each row
    with its account's name and domain now (None once the account is gone), one query."""
    _check_limit(limit)
    h = account_membership_history.c
    query = (
        sa.select(
            account_membership_history,
            accounts.c.name.label("account_name"),
            accounts.c.domain.label("account_domain"),
        )
        .join(
            accounts,
            sa.and_(accounts.c.project_id == h.project_id, accounts.c.id == h.account_id),
            isouter=True,
        )
        .where(h.project_id == project.id, h.segment_id == segment_id)
    )
    if account_id is not None:
        query = query.where(h.account_id == account_id)
    page = _Page(since, after, limit, newest_first)
    return [_account_item(r) for r in page.rows(conn, project, query, account_membership_history)]
