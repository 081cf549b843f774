"""Single-lead operations and lead listings, for the API and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from segmint.clock import SYSTEM_CLOCK, Clock, as_utc
from segmint.engine import answering, lists, membership, outbox, owners, scoring
from segmint.engine.lead_writes import (
    MERGE_COLUMNS,
    account_left,
    insert_values,
    lock_for_merge,
    prepare_lead,
    record_accounts_left,
    record_accounts_of_deleted,
    update_statement,
    update_values,
    written_columns,
)
from segmint.engine.paging import MAX_PER_PAGE, Sort, page_select
from segmint.errors import Conflict, InvalidInput, NotFound
from segmint.index import Audience
from segmint.projects import Project
from segmint.store.db import one_of
from segmint.store.rows import LeadRow
from segmint.store.tables import Timestamp, accounts, events, leads

SORTABLE = ("name", "email", "company", "job_title", "status", "source", "created_at")
DEFAULT_SORT = "-created_at"


def full_name() -> sa.ColumnElement[str]:
    """`first last`, trimmed: what `name` means for sorting and display."""
    return sa.func.trim(
        sa.func.coalesce(leads.c.first_name, "") + " " + sa.func.coalesce(leads.c.last_name, "")
    )


_STORED = tuple(column.name for column in leads.columns)
_INSTANTS = tuple(name for name in _STORED if isinstance(leads.c[name].type, Timestamp))


def public(row: Any) -> dict[str, Any]:
    """A stored lead (a row of `leads`, or a LeadRow) as the API shows it."""
    # A Row as a dict at once: an attribute read a column was a sixth of an index page's time.
    data = row._asdict() if isinstance(row, sa.Row) else {n: getattr(row, n) for n in _STORED}
    data.pop("project_id")
    for key in _INSTANTS:
        if data[key] is not None:
            data[key] = as_utc(data[key])
    data["name"] = " ".join(p for p in (row.first_name, row.last_name) if p) or None
    return data


def get_lead(conn: sa.Connection, project: Project, lead_id: int) -> LeadRow:
    row = conn.execute(
        sa.select(leads).where(leads.c.project_id == project.id, leads.c.id == lead_id)
    ).first()
    if row is None:
        raise NotFound(f"no lead {lead_id}")
    return LeadRow.of(row)


def create_lead(
    conn: sa.Connection, project: Project, record: Mapping[str, Any], clock: Clock = SYSTEM_CLOCK
) -> LeadRow:
    lead = prepare_lead(0, record, project)
    _check_account(conn, project, lead.columns.get("account_id"))
    owners.check(conn, project, lead.columns.get(owners.OWNER))
    if lead.email and _id_by_email(conn, project, lead.email) is not None:
        raise Conflict(f"a lead with email {lead.email} already exists", "email")
    now = clock.now()
    new_id = conn.execute(
        leads.insert()
        .values(insert_values(lead, project.id, now, scoring.levels(conn, project)))
        .returning(leads.c.id)
    ).scalar_one()
    outbox.leads_written(conn, project.id, [new_id], now)
    return get_lead(conn, project, new_id)


def _check_account(conn: sa.Connection, project: Project, account_id: int | None) -> None:
    """A lead may only belong to an account of its own project."""
    if account_id is None:
        return
    found = conn.execute(
        sa.select(accounts.c.id).where(
            accounts.c.project_id == project.id, accounts.c.id == account_id
        )
    ).first()
    if found is None:
        raise InvalidInput(f"no account {account_id} in this project", "account_id")


def update_lead(
    conn: sa.Connection,
    project: Project,
    lead_id: int,
    record: Mapping[str, Any],
    clock: Clock = SYSTEM_CLOCK,
) -> LeadRow:
    """Change the given fields; an explicit null clears one."""
    # Locked until this transaction ends: custom and enrichment merge into what is read here,
    # so a concurrent write must wait rather than be overwritten (a lost update).
    query = sa.select(*MERGE_COLUMNS).where(leads.c.project_id == project.id, leads.c.id == lead_id)
    existing = conn.execute(lock_for_merge(conn, query)).first()
    if existing is None:
        raise NotFound(f"no lead {lead_id}")
    lead = prepare_lead(0, record, project, keep_blank=True)
    _check_account(conn, project, lead.columns.get("account_id"))
    owners.check(conn, project, lead.columns.get(owners.OWNER))
    if lead.email and lead.email != existing.email:
        other = _id_by_email(conn, project, lead.email)
        if other is not None:
            raise Conflict(f"lead {other} already has email {lead.email}", "email")
    now = clock.now()
    row = update_values(lead, existing, project.id, now, scoring.levels(conn, project))
    conn.execute(update_statement(frozenset(row)), [row])
    outbox.leads_written(conn, project.id, [lead_id], now, written_columns(frozenset(row)))
    record_accounts_left(conn, project.id, [account_left(existing, row)], now)
    return get_lead(conn, project, lead_id)


def delete_lead(
    conn: sa.Connection, project: Project, lead_id: int, clock: Clock = SYSTEM_CLOCK
) -> None:
    get_lead(conn, project, lead_id)
    membership.record_deletion(conn, project, [lead_id], clock.now())
    record_accounts_of_deleted(conn, project, [lead_id], clock.now())
    result = conn.execute(
        leads.delete().where(leads.c.project_id == project.id, leads.c.id == lead_id)
    )
    if result.rowcount == 0:
        raise NotFound(f"no lead {lead_id}")


def _id_by_email(conn: sa.Connection, project: Project, email: str) -> int | None:
    return conn.execute(
        sa.select(leads.c.id).where(leads.c.project_id == project.id, leads.c.email == email)
    ).scalar_one_or_none()


def parse_sort(text: str | None) -> Sort:
    """`-created_at` style sort parameters into a Sort over the leads table."""
    text = (text or DEFAULT_SORT).strip()
    descending = text.startswith("-")
    name = text.lstrip("-")
    if name not in SORTABLE:
        raise InvalidInput(f"cannot sort by {name!r}; use one of {', '.join(SORTABLE)}", "sort")
    if name == "name":
        return Sort(full_name(), descending, nullable=False, field=name)
    column = leads.c[name]
    return Sort(column, descending, nullable=column.nullable is not False, field=name)


def check_page(page: int, per_page: int) -> None:
    if page < 1:
        raise InvalidInput("must be 1 or more", "page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"must be between 1 and {MAX_PER_PAGE}", "per_page")


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    page: int
    per_page: int
    engine: str = answering.SQL  # who answered: the columnar index or SQL


def audience_page(
    conn: sa.Connection,
    project: Project,
    audience: Audience,
    sort: Sort,
    page: int,
    per_page: int,
    now: datetime,
) -> Page:
    """One page of the leads in `audience` at `now`, from the index when it can answer (the
    page's ids from memory, their rows from the database) else from SQL."""
    check_page(page, per_page)
    if sort.field is not None:
        order = (sort.field, sort.descending)
        indexed = answering.page_ids(conn, project, audience, order, page, per_page, now)
        if indexed is not None:
            found = indexed.value
            return Page(
                leads_by_id(conn, project, found.ids), found.total, page, per_page, answering.INDEX
            )
    where = answering.sql_condition(conn, project, audience, now)
    return page_of_leads(conn, project, where, sort, page, per_page)


def leads_by_id(conn: sa.Connection, project: Project, ids: list[int]) -> list[dict[str, Any]]:
    """The leads with these ids as the API shows them, in the order given (one query)."""
    rows = conn.execute(
        # one array parameter: an expanded IN of 50 ids took half of an index page's time
        sa.select(leads).where(
            leads.c.project_id == project.id, one_of(leads.c.id, ids, conn.dialect.name)
        )
    )
    by_id = {row.id: public(row) for row in rows}
    return [by_id[i] for i in ids if i in by_id]  # deleted since the index answered: skipped


def page_of_leads(
    conn: sa.Connection,
    project: Project,
    where: sa.ColumnElement[bool] | None,
    sort: Sort,
    page: int,
    per_page: int,
    total: int | None = None,
) -> Page:
    """One page of the project's leads matching `where`, plus the total (counted unless the
    caller already knows it)."""
    check_page(page, per_page)
    scope = leads.c.project_id == project.id
    condition = scope if where is None else sa.and_(scope, where)
    if total is None:
        count = sa.select(sa.func.count()).select_from(leads).where(condition)
        total = int(conn.execute(count).scalar() or 0)
    query = page_select(conn, sa.select(leads).where(condition), sort, leads.c.id, page, per_page)
    items = [public(row) for row in conn.execute(query)] if query is not None else []
    return Page(items, total, page, per_page)


def lead_events(
    conn: sa.Connection, project: Project, lead_id: int, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """A lead's events, newest first; `before` (an event id) pages on without OFFSET."""
    e = events.c
    query = sa.select(e.id, e.type, e.occurred_at, e.metadata).where(
        e.project_id == project.id, e.lead_id == lead_id
    )
    if before is not None:
        anchor = conn.execute(
            sa.select(e.occurred_at).where(e.project_id == project.id, e.id == before)
        ).scalar_one_or_none()
        if anchor is None:
            raise InvalidInput(f"no event {before}", "before")
        query = query.where(
            sa.or_(e.occurred_at < anchor, sa.and_(e.occurred_at == anchor, e.id < before))
        )
    rows = conn.execute(query.order_by(e.occurred_at.desc(), e.id.desc()).limit(limit))
    return [
        {"id": r.id, "type": r.type, "occurred_at": r.occurred_at, "metadata": r.metadata}
        for r in rows
    ]


def having_ids(conn: sa.Connection, project: Project, ids: list[int]) -> sa.ColumnElement[bool]:
    """The project's leads with these ids, each checked to be one (else 422 naming it)."""
    return in_project(project, leads.c.id.in_(lists.check_lead_ids(conn, project, ids)))


def in_project(project: Project, where: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """`where`, limited to the project's leads (exports take a complete condition)."""
    return sa.and_(leads.c.project_id == project.id, where)
