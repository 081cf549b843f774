"""Static lists: frozen memberships, changed only by hand or by an explicit refresh."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.engine import answering, outbox, usage
from segmint.errors import Conflict, InvalidInput, NotFound
from segmint.index import Audience
from segmint.projects import Project
from segmint.store.bulk import insert_rows
from segmint.store.db import one_of
from segmint.store.rows import ListRow
from segmint.store.tables import leads, list_members, lists

MAX_LEAD_IDS = 10_000  # lead ids in one add/remove request


def get_list(conn: sa.Connection, project: Project, list_id: int) -> ListRow:
    row = conn.execute(
        sa.select(lists).where(lists.c.project_id == project.id, lists.c.id == list_id)
    ).first()
    if row is None:
        raise NotFound(f"no list {list_id}")
    return ListRow.of(row)


def member_count(conn: sa.Connection, project: Project, list_id: int) -> int:
    count = conn.execute(
        sa.select(sa.func.count())
        .select_from(list_members)
        .where(list_members.c.project_id == project.id, list_members.c.list_id == list_id)
    ).scalar()
    return int(count or 0)


def member_counts(conn: sa.Connection, project: Project) -> dict[int, int]:
    """Every list's member count in one query (no per-list round trip)."""
    rows = conn.execute(
        sa.select(list_members.c.list_id, sa.func.count())
        .where(list_members.c.project_id == project.id)
        .group_by(list_members.c.list_id)
    )
    return {int(list_id): int(count) for list_id, count in rows}


def all_lists(conn: sa.Connection, project: Project) -> list[ListRow]:
    query = sa.select(lists).where(lists.c.project_id == project.id).order_by(lists.c.id.desc())
    return [ListRow.of(row) for row in conn.execute(query)]


def create_list(
    conn: sa.Connection,
    project: Project,
    fields: Mapping[str, Any],
    created_by: int | None,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    now = clock.now()
    return int(
        conn.execute(
            lists.insert()
            .values(
                **fields,
                project_id=project.id,
                created_by=created_by,
                created_at=now,
                updated_at=now,
            )
            .returning(lists.c.id)
        ).scalar_one()
    )


def update_list(
    conn: sa.Connection,
    project: Project,
    list_id: int,
    fields: Mapping[str, Any],
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    get_list(conn, project, list_id)
    conn.execute(
        lists.update()
        .where(lists.c.project_id == project.id, lists.c.id == list_id)
        .values(**fields, updated_at=clock.now())
    )


def delete_list(
    conn: sa.Connection,
    project: Project,
    list_id: int,
    force: bool = False,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Delete the list and its memberships (never leads); refuse while a segment, campaign or
    list refers to it, unless forced (an `in list` condition on a deleted list matches no one)."""
    get_list(conn, project, list_id)
    users_of = usage.list_usage(conn, project, list_id).all()
    if users_of and not force:
        names = ", ".join(map(str, users_of))
        raise Conflict(
            f"list is used by {names}; delete with ?force=true to delete it anyway", "list"
        )
    conn.execute(
        list_members.delete().where(
            list_members.c.project_id == project.id, list_members.c.list_id == list_id
        )
    )
    conn.execute(lists.delete().where(lists.c.project_id == project.id, lists.c.id == list_id))
    _members_changed(conn, project, list_id, None, clock.now())


def members_condition(project: Project, list_id: int) -> sa.ColumnElement[bool]:
    """`leads` rows that are members of the list."""
    member_ids = sa.select(list_members.c.lead_id).where(
        list_members.c.project_id == project.id, list_members.c.list_id == list_id
    )
    return sa.and_(leads.c.project_id == project.id, leads.c.id.in_(member_ids))


def _members_changed(
    conn: sa.Connection,
    project: Project,
    list_id: int,
    lead_ids: list[int] | None,
    now: datetime,
) -> None:
    """Segments that test `in_list` re-evaluate these leads (None: every lead)."""
    if lead_ids == []:
        return
    payload = {"list_id": list_id, "lead_ids": lead_ids}
    outbox.enqueue(conn, project.id, outbox.Kind.LIST, payload, now)


def check_lead_ids(conn: sa.Connection, project: Project, lead_ids: Iterable[int]) -> list[int]:
    wanted = sorted(set(lead_ids))
    if not wanted:
        raise InvalidInput("give at least one lead id", "lead_ids")
    if len(wanted) > MAX_LEAD_IDS:
        raise InvalidInput(f"at most {MAX_LEAD_IDS} lead ids a request", "lead_ids")
    found = set(
        conn.execute(
            sa.select(leads.c.id).where(leads.c.project_id == project.id, leads.c.id.in_(wanted))
        ).scalars()
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        shown = ", ".join(map(str, missing[:10]))
        raise InvalidInput(f"no lead with id {shown} in this project", "lead_ids")
    return wanted


def add_members(
    conn: sa.Connection,
    project: Project,
    list_id: int,
    lead_ids: Iterable[int],
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Add leads (already-members are left as they are); returns how many were added."""
    get_list(conn, project, list_id)
    wanted = check_lead_ids(conn, project, lead_ids)
    return add_known_leads(conn, project, list_id, wanted, clock.now())


def add_known_leads(
    conn: sa.Connection, project: Project, list_id: int, lead_ids: list[int], now: datetime
) -> int:
    """Add leads known to be the project's, to a list known to exist (a bulk action's batch)."""
    present = set(
        conn.execute(
            sa.select(list_members.c.lead_id).where(
                list_members.c.project_id == project.id,
                list_members.c.list_id == list_id,
                list_members.c.lead_id.in_(lead_ids),
            )
        ).scalars()
    )
    new = [i for i in lead_ids if i not in present]
    _insert_members(conn, project, list_id, new, now)
    _members_changed(conn, project, list_id, new, now)
    return len(new)


def _insert_members(
    conn: sa.Connection, project: Project, list_id: int, lead_ids: list[int], at: datetime
) -> None:
    rows = [
        {"project_id": project.id, "list_id": list_id, "lead_id": i, "added_at": at}
        for i in lead_ids
    ]
    insert_rows(conn, list_members, rows)


def remove_members(
    conn: sa.Connection,
    project: Project,
    list_id: int,
    lead_ids: Iterable[int],
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    get_list(conn, project, list_id)
    wanted = sorted(set(lead_ids))
    if not wanted:
        raise InvalidInput("give at least one lead id", "lead_ids")
    return remove_known_leads(conn, project, list_id, wanted, clock.now())


def remove_known_leads(
    conn: sa.Connection, project: Project, list_id: int, lead_ids: list[int], now: datetime
) -> int:
    """Remove leads from a list known to exist; returns how many were members."""
    result = conn.execute(
        list_members.delete().where(
            list_members.c.project_id == project.id,
            list_members.c.list_id == list_id,
            list_members.c.lead_id.in_(lead_ids),
        )
    )
    _members_changed(conn, project, list_id, lead_ids, now)
    return int(result.rowcount)


def replace_members(
    conn: sa.Connection,
    project: Project,
    list_id: int,
    matching: sa.ColumnElement[bool],
    clock: Clock = SYSTEM_CLOCK,
    audience: Audience | None = None,
) -> int:
    """Make the members exactly the leads matching `matching` (or `audience`, the same leads,
    when the index can answer it).

    Leads that stay keep their `added_at`; leads that leave are removed; new ones are added now.
    """
    now = clock.now()
    found = None if audience is None else answering.matching_all(conn, project, audience, now)
    if found is None or not _replace_by_ids(conn, project, list_id, found.value, now):
        _replace_in_database(conn, project, list_id, matching, now)
    update_list(conn, project, list_id, {}, clock)
    _members_changed(conn, project, list_id, None, now)
    return member_count(conn, project, list_id)


def _replace_in_database(
    conn: sa.Connection,
    project: Project,
    list_id: int,
    matching: sa.ColumnElement[bool],
    now: datetime,
) -> None:
    """Set-wise in the database: the filter is evaluated twice (leaving, then joining)."""
    scope = sa.and_(list_members.c.project_id == project.id, list_members.c.list_id == list_id)
    matching_ids = sa.select(leads.c.id).where(leads.c.project_id == project.id, matching)
    conn.execute(list_members.delete().where(scope, list_members.c.lead_id.not_in(matching_ids)))
    present = sa.select(list_members.c.lead_id).where(scope)
    _add_leads_where(conn, project, list_id, sa.and_(matching, leads.c.id.not_in(present)), now)


def _add_leads_where(
    conn: sa.Connection,
    project: Project,
    list_id: int,
    where: sa.ColumnElement[bool],
    now: datetime,
) -> None:
    """The project's leads matching `where` added to the list, read from `leads` in the
    database (so a lead deleted meanwhile is not added)."""
    conn.execute(
        list_members.insert().from_select(
            ["project_id", "list_id", "lead_id", "added_at"],
            sa.select(
                leads.c.project_id,
                sa.literal(list_id, sa.BigInteger),
                leads.c.id,
                sa.literal(now, sa.DateTime(timezone=True)),
            ).where(leads.c.project_id == project.id, where),
        )
    )


def _replace_by_ids(
    conn: sa.Connection, project: Project, list_id: int, wanted: np.ndarray, now: datetime
) -> bool:
    """The members made the leads `wanted` (sorted ids, the index's answer): only the
    difference is written, handed to the database as id arrays; False (nothing written) when
    it is over answering.MAX_IDS_TO_SQL ids."""
    scope = sa.and_(list_members.c.project_id == project.id, list_members.c.list_id == list_id)
    present = np.fromiter(
        conn.execute(sa.select(list_members.c.lead_id).where(scope)).scalars(), np.int64
    )
    present.sort()
    leaving = np.setdiff1d(present, wanted, assume_unique=True).tolist()
    joining = np.setdiff1d(wanted, present, assume_unique=True).tolist()
    if len(leaving) + len(joining) > answering.MAX_IDS_TO_SQL:
        return False
    dialect = conn.dialect.name
    if leaving:
        conn.execute(
            list_members.delete().where(scope, one_of(list_members.c.lead_id, leaving, dialect))
        )
    if joining:
        _add_leads_where(conn, project, list_id, one_of(leads.c.id, joining, dialect), now)
    return True
