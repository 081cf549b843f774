"""Account segments: segments whose members are accounts, answered live.

An account segment's filter is over `accounts` (filters/to_sql.py `compile_account_filter`),
with `leads` nodes counting each account's matching leads. Counts, pages, samples and exports
ask the columnar index first for every matching account id (`matching`), then read the page's
accounts by id; without a ready index, SQL evaluates the filter. An inactive one answers from
its stored (frozen) accounts (`of_segment`), as an inactive lead segment does. An active
account segment's maintained membership (history, webhooks, analytics) is kept beside these by
engine/account_membership.py, set-wise in SQL (docs/decisions.md).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.clock import as_utc
from segmint.engine import answering, filtering
from segmint.engine.export import defuse_text
from segmint.errors import InvalidInput
from segmint.filters.to_sql import compile_account_filter
from segmint.filters.tree import ACCOUNTS, LEADS, Node
from segmint.projects import Project
from segmint.store.db import one_of
from segmint.store.rows import SegmentRow
from segmint.store.tables import account_segment_members, accounts, leads

MAX_PER_PAGE: Final = 500
SAMPLE_SIZE: Final = 5
EXPORT_BATCH: Final = 2000  # accounts per keyset batch of an export
EXPORT_COLUMNS: Final = (
    "id", "name", "domain", "engagement_level", "profile_level", "lead_count", "created_at",
)  # fmt: skip


def check_audience(value: Any) -> str:
    if value is None:
        return LEADS
    if value not in (LEADS, ACCOUNTS):
        raise InvalidInput(f"must be {LEADS!r} or {ACCOUNTS!r}", "audience")
    return str(value)


def is_accounts(row: SegmentRow) -> bool:
    return row.audience == ACCOUNTS


def only_lead_segment(row: SegmentRow, what: str) -> None:
    """422 for what only a lead segment has (manual members, a lead list, lead pages...)."""
    if is_accounts(row):
        raise InvalidInput(
            f"segment {row.id} is an account segment: {what} is for lead segments; its members "
            "are listed at /segments/{id}/accounts",
            "segment",
        )


def only_account_segment(row: SegmentRow) -> None:
    if not is_accounts(row):
        raise InvalidInput(
            f"segment {row.id} is a lead segment: its members are listed at "
            "/segments/{id}/members",
            "segment",
        )


def tree_of(project: Project, row: SegmentRow) -> Node:
    return filtering.load(project, row.filter, ACCOUNTS)


def condition(
    conn: sa.Connection, project: Project, tree: Node, now: datetime
) -> sa.ColumnElement[bool]:
    """The account filter as a boolean over `accounts`, scoped to the project."""
    where = compile_account_filter(
        tree, project, now, conn.dialect.name, filtering.StoredSegments(conn, project.id)
    )
    return sa.and_(accounts.c.project_id == project.id, where)


@dataclass(frozen=True)
class Matching:
    """Who an account filter matches: every id, ascending, from the index (`ids`), or the
    condition SQL reads them by (`where`); `engine` says which."""

    engine: str
    ids: np.ndarray[Any, Any] | None = None
    where: sa.ColumnElement[bool] | None = None

    def condition(self, project: Project, ids: Any, dialect: str) -> sa.ColumnElement[bool]:
        """These ids' accounts (some of `ids`, read by id), or the filter's SQL condition."""
        if self.where is not None:
            return self.where
        return sa.and_(accounts.c.project_id == project.id, one_of(accounts.c.id, ids, dialect))


def _indexed_ids(
    conn: sa.Connection, project: Project, tree: Node, now: datetime
) -> np.ndarray[Any, Any] | None:
    source = filtering.StoredSegments(conn, project.id)
    found = answering.through_index(
        conn, project, lambda reader: reader.account_ids(tree, project, now, source)
    )
    return None if found is None else found.value


def matching(conn: sa.Connection, project: Project, tree: Node, now: datetime) -> Matching:
    """The index's ids when it is ready and they are few enough to hand to SQL by id."""
    ids = _indexed_ids(conn, project, tree, now)
    if ids is not None and len(ids) <= answering.MAX_IDS_TO_SQL:
        return Matching(answering.INDEX, ids=ids)
    return Matching(answering.SQL, where=condition(conn, project, tree, now))


def of_segment(conn: sa.Connection, project: Project, row: SegmentRow, now: datetime) -> Matching:
    """Who is in a saved account segment: live for an active one, its frozen (stored) members
    for an inactive one, as for lead segments (inactive segments stop updating)."""
    if row.active:
        return matching(conn, project, tree_of(project, row), now)
    stored = sa.select(account_segment_members.c.account_id).where(
        account_segment_members.c.project_id == project.id,
        account_segment_members.c.segment_id == row.id,
    )
    where = sa.and_(accounts.c.project_id == project.id, accounts.c.id.in_(stored))
    return Matching(answering.SQL, where=where)


def segment_count(
    conn: sa.Connection, project: Project, row: SegmentRow, now: datetime
) -> tuple[int, str]:
    """A saved account segment's member count (its stored members when inactive)."""
    if row.active:
        return count(conn, project, tree_of(project, row), now)
    return stored_count(conn, project, row.id), answering.SQL


def stored_count(conn: sa.Connection, project: Project, segment_id: int) -> int:
    query = sa.select(sa.func.count()).where(
        account_segment_members.c.project_id == project.id,
        account_segment_members.c.segment_id == segment_id,
    )
    return int(conn.execute(query).scalar() or 0)


def count(conn: sa.Connection, project: Project, tree: Node, now: datetime) -> tuple[int, str]:
    """How many accounts match, and who answered."""
    ids = _indexed_ids(conn, project, tree, now)
    if ids is not None:
        return len(ids), answering.INDEX
    query = (
        sa.select(sa.func.count()).select_from(accounts).where(condition(conn, project, tree, now))
    )
    return int(conn.execute(query).scalar() or 0), answering.SQL


@dataclass(frozen=True)
class AccountPage:
    items: list[dict[str, Any]]
    next_after: int | None  # the `after` of the next page; None on the last one
    engine: str = answering.SQL


def _lead_counts(
    conn: sa.Connection, project: Project, account_ids: Collection[int]
) -> dict[int, int]:
    """Each account's number of leads, in one grouped query for a page."""
    if not account_ids:
        return {}
    rows = conn.execute(
        sa.select(leads.c.account_id, sa.func.count())
        .where(leads.c.project_id == project.id, leads.c.account_id.in_(sorted(account_ids)))
        .group_by(leads.c.account_id)
    )
    return {account_id: int(total) for account_id, total in rows}


def _public(row: Any, lead_count: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "domain": row.domain,
        "engagement_level": row.engagement_level,
        "profile_level": row.profile_level,
        "lead_count": lead_count,
        "created_at": as_utc(row.created_at),
    }


def _columns() -> tuple[sa.ColumnElement[Any], ...]:
    c = accounts.c
    return (c.id, c.name, c.domain, c.engagement_level, c.profile_level, c.created_at)


def page(
    conn: sa.Connection, project: Project, found: Matching, after: int | None, limit: int
) -> AccountPage:
    """Members by id, keyset-paged: those after id `after`, at most `limit` (two queries);
    `found` from `matching` or `of_segment`."""
    page_ids = None
    if found.ids is not None:  # the index's ids past `after`: the page's own, and one more
        start = 0 if after is None else int(np.searchsorted(found.ids, after, side="right"))
        page_ids = [int(i) for i in found.ids[start : start + limit + 1]]
    query = sa.select(*_columns()).where(found.condition(project, page_ids, conn.dialect.name))
    if after is not None:
        query = query.where(accounts.c.id > after)
    rows = conn.execute(query.order_by(accounts.c.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    totals = _lead_counts(conn, project, [row.id for row in rows])
    items = [_public(row, totals.get(row.id, 0)) for row in rows]
    return AccountPage(items, rows[-1].id if more and rows else None, found.engine)


def sample(conn: sa.Connection, project: Project, found: Matching) -> list[dict[str, Any]]:
    """The newest few members (a preview's sample)."""
    ids = None if found.ids is None else [int(i) for i in found.ids]
    query = (
        sa.select(*_columns())
        .where(found.condition(project, ids, conn.dialect.name))
        .order_by(accounts.c.created_at.desc(), accounts.c.id.desc())
        .limit(SAMPLE_SIZE)
    )
    rows = conn.execute(query).all()
    totals = _lead_counts(conn, project, [row.id for row in rows])
    return [_public(row, totals.get(row.id, 0)) for row in rows]


def preview(
    conn: sa.Connection, project: Project, data: Any, reader: Principal | None, now: datetime
) -> dict[str, Any]:
    """Count and sample of an unsaved account filter."""
    tree = filtering.validate(conn, project, data, reader=reader, audience=ACCOUNTS)
    total, engine = count(conn, project, tree, now)
    newest = sample(conn, project, matching(conn, project, tree, now))
    return {"count": total, "sample": newest, "engine": engine}


def _csv_line(row: Any, lead_count: int) -> str:
    out = io.StringIO()
    cells = [
        row.id,
        defuse_text(row.name),
        defuse_text(row.domain),
        defuse_text(row.engagement_level),
        defuse_text(row.profile_level),
        lead_count,
        as_utc(row.created_at).isoformat(),
    ]
    csv.writer(out, lineterminator="\n").writerow(["" if c is None else c for c in cells])
    return out.getvalue()


def export_csv(db: Engine, found: Matching, project: Project) -> Iterator[bytes]:
    """The members as CSV, streamed in keyset batches on a connection of its own (the
    request's is gone by the time the body is sent); `found` from `matching`, evaluated
    in the request: the index's ids are read EXPORT_BATCH at a time, by id."""
    yield (",".join(EXPORT_COLUMNS) + "\n").encode()
    after = 0
    with db.connect() as conn:
        while True:
            batch = None
            if found.ids is not None:
                start = int(np.searchsorted(found.ids, after, side="right"))
                batch = [int(i) for i in found.ids[start : start + EXPORT_BATCH]]
            rows = conn.execute(
                sa.select(*_columns())
                .where(found.condition(project, batch, conn.dialect.name), accounts.c.id > after)
                .order_by(accounts.c.id)
                .limit(EXPORT_BATCH)
            ).all()
            if not rows:
                return
            totals = _lead_counts(conn, project, [row.id for row in rows])
            yield "".join(_csv_line(row, totals.get(row.id, 0)) for row in rows).encode()
            after = rows[-1].id
