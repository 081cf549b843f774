"""Manual membership: leads included in or excluded from a segment by hand, beside its filter.

A segment's members are `(filter or included) and not excluded` (`filters.parse.membership_tree`
builds that tree; every answer of a segment's members reads it). This module writes the
includes and excludes and says what follows:

- an active segment re-evaluates the leads named (worker, outbox kind `manual`): those whose
  membership changes enter or leave with reason `manual`, and segments that refer to it by
  `in_segment` follow with reason `dependency`;
- an inactive segment keeps its frozen members, but a manual change is an explicit wish about
  named leads, so it applies at once, in the request: an include makes the lead a member, an
  exclude takes it out (history reason `manual`, webhooks as for any change). Taking an include
  or exclude away changes nothing until the segment is active again: its filter is not
  evaluated while frozen, so nothing says whether the lead would be in without it.

One row per segment and lead: including an excluded lead turns its row into an include (and the
other way round), so a lead is never both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from segmint.auth import Principal
from segmint.clock import SYSTEM_CLOCK, Clock, as_utc
from segmint.engine import membership, outbox
from segmint.engine.segments import editable_segment, visible_segment
from segmint.errors import InvalidInput
from segmint.filters.parse import EXCLUDE, INCLUDE, MANUAL_KINDS
from segmint.projects import Project
from segmint.store.bulk import insert_rows
from segmint.store.db import one_of
from segmint.store.rows import SegmentRow
from segmint.store.tables import leads, manual_members

__all__ = ["EXCLUDE", "INCLUDE", "MANUAL_KINDS"]

MAX_LEAD_IDS: Final = 10_000  # lead ids in one request, as for a list's members
MAX_LIMIT: Final = 500  # rows of one listing page
SHOWN_IDS: Final = 10  # unknown ids named in an error


@dataclass(frozen=True)
class ManualChange:
    """What one request did: rows written or removed, and the counts after it."""

    changed: int
    included: int
    excluded: int


def check_kind(kind: str) -> str:
    if kind not in MANUAL_KINDS:
        raise InvalidInput("must be 'include' or 'exclude'", "kind")
    return kind


def _wanted(lead_ids: Iterable[Any]) -> list[int]:
    ids = list(lead_ids)
    if not ids:
        raise InvalidInput("give at least one lead id", "lead_ids")
    for at, value in enumerate(ids):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput("must be a lead id (an integer)", f"lead_ids[{at}]")
    if len(set(ids)) > MAX_LEAD_IDS:
        raise InvalidInput(f"at most {MAX_LEAD_IDS} lead ids a request", "lead_ids")
    return sorted(set(ids))


def _check_leads(
    conn: sa.Connection, project: Project, given: list[Any], wanted: list[int]
) -> None:
    """Every id must be a lead of this project: another project's lead is unknown here, as
    everywhere (its existence is not told)."""
    found = set(
        conn.execute(
            sa.select(leads.c.id).where(
                leads.c.project_id == project.id, one_of(leads.c.id, wanted, conn.dialect.name)
            )
        ).scalars()
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        first = given.index(missing[0])
        shown = ", ".join(map(str, missing[:SHOWN_IDS]))
        more = f" and {len(missing) - SHOWN_IDS} more" if len(missing) > SHOWN_IDS else ""
        raise InvalidInput(f"no lead with id {shown}{more} in this project", f"lead_ids[{first}]")


def lead_ids_by_email(conn: sa.Connection, project: Project, emails: Sequence[str]) -> list[int]:
    """The project's leads with these emails (compared as stored: trimmed, lower-cased), in the
    order given; an email no lead has is an error naming it (the CLI names leads this way)."""
    wanted = [e.strip().lower() for e in emails]
    found = dict(
        conn.execute(
            sa.select(leads.c.email, leads.c.id).where(
                leads.c.project_id == project.id, leads.c.email.in_(sorted(set(wanted)))
            )
        ).all()
    )
    missing = [e for e in wanted if e not in found]
    if missing:
        shown = ", ".join(missing[:SHOWN_IDS])
        raise InvalidInput(f"no lead with email {shown} in this project", "emails")
    return [int(found[e]) for e in wanted]


def _lock(conn: sa.Connection, project: Project, segment_id: int) -> SegmentRow:
    """The segment row, locked (PostgreSQL) as a sync locks it: a manual change and the
    worker's syncs of the segment take turns."""
    row = membership.lock_segment(conn, project, segment_id)
    assert row is not None  # checked by editable_segment in this transaction
    return row


def add(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    segment_id: int,
    kind: str,
    lead_ids: Iterable[Any],
    clock: Clock = SYSTEM_CLOCK,
) -> ManualChange:
    """Include (or exclude) these leads in the segment; an exclude of the same lead becomes an
    include (and the other way round). Leads already so are left as they are."""
    check_kind(kind)
    row = editable_segment(conn, project, principal, segment_id)
    if row.audience != "leads":
        raise InvalidInput(
            f"segment {segment_id} is an account segment: leads are included or excluded by "
            "hand in lead segments only",
            "segment",
        )
    given = list(lead_ids)
    wanted = _wanted(given)
    _check_leads(conn, project, given, wanted)
    changed = add_known(conn, project, segment_id, kind, wanted, principal.email, clock.now())
    return _result(conn, project, segment_id, changed)


def add_known(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    kind: str,
    lead_ids: list[int],
    author: str,
    now: datetime,
) -> int:
    """`add` for leads known to be the project's, by an author whose right to change the
    segment was checked (a bulk action's batch); returns how many changed."""
    row = _lock(conn, project, segment_id)
    current = _kinds_of(conn, project, segment_id, lead_ids)
    turned = [i for i in lead_ids if current.get(i) not in (None, kind)]
    new = [i for i in lead_ids if i not in current]
    c = manual_members.c
    if turned:
        conn.execute(
            manual_members.update()
            .where(
                c.project_id == project.id,
                c.segment_id == segment_id,
                one_of(c.lead_id, turned, conn.dialect.name),
            )
            .values(kind=kind, added_at=now)
        )
    if new:
        insert_rows(
            conn,
            manual_members,
            [
                {
                    "project_id": project.id,
                    "segment_id": segment_id,
                    "lead_id": i,
                    "kind": kind,
                    "added_at": now,
                }
                for i in new
            ],
        )
    changed = sorted([*turned, *new])
    detail = _detail(f"{kind}d" if kind == INCLUDE else "excluded", author)
    if changed and not row.active:
        entering, leaving = (changed, []) if kind == INCLUDE else ([], changed)
        membership.apply_frozen(conn, project, row, entering, leaving, now, detail)
    _follow(conn, project, segment_id, changed, detail, now)
    return len(changed)


def remove(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    segment_id: int,
    kind: str,
    lead_ids: Iterable[Any],
    clock: Clock = SYSTEM_CLOCK,
) -> ManualChange:
    """Take these leads off the segment's includes (or excludes); ids not there are ignored, as
    a list's members are. An active segment then re-evaluates them by its filter."""
    check_kind(kind)
    editable_segment(conn, project, principal, segment_id)
    wanted = _wanted(lead_ids)
    _lock(conn, project, segment_id)
    c = manual_members.c
    removed = sorted(
        conn.execute(
            manual_members.delete()
            .where(
                c.project_id == project.id,
                c.segment_id == segment_id,
                c.kind == kind,
                one_of(c.lead_id, wanted, conn.dialect.name),
            )
            .returning(c.lead_id)
        ).scalars()
    )
    detail = _detail(f"{kind} removed", principal.email)
    _follow(conn, project, segment_id, removed, detail, clock.now())
    return _result(conn, project, segment_id, len(removed))


def _detail(what: str, author: str) -> str:
    return f"{what} by {author}"[:255]


def _follow(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    lead_ids: list[int],
    detail: str,
    now: datetime,
) -> None:
    """The worker re-evaluates these leads in the segment and in those that refer to it."""
    if lead_ids:
        payload = {"segment_id": segment_id, "lead_ids": lead_ids, "detail": detail}
        outbox.enqueue(conn, project.id, outbox.Kind.MANUAL, payload, now)


def _kinds_of(
    conn: sa.Connection, project: Project, segment_id: int, lead_ids: Sequence[int]
) -> dict[int, str]:
    c = manual_members.c
    rows = conn.execute(
        sa.select(c.lead_id, c.kind).where(
            c.project_id == project.id,
            c.segment_id == segment_id,
            one_of(c.lead_id, lead_ids, conn.dialect.name),
        )
    )
    return {int(lead_id): str(kind) for lead_id, kind in rows}


def counts(conn: sa.Connection, project: Project, segment_id: int) -> dict[str, int]:
    """How many leads the segment includes and excludes by hand."""
    c = manual_members.c
    rows = conn.execute(
        sa.select(c.kind, sa.func.count())
        .where(c.project_id == project.id, c.segment_id == segment_id)
        .group_by(c.kind)
    )
    found = {kind: 0 for kind in MANUAL_KINDS}
    found.update({str(kind): int(n) for kind, n in rows})
    return found


def _result(conn: sa.Connection, project: Project, segment_id: int, changed: int) -> ManualChange:
    found = counts(conn, project, segment_id)
    return ManualChange(changed, found[INCLUDE], found[EXCLUDE])


def listing(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    segment_id: int,
    kind: str,
    after: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One page of the segment's includes (or excludes) in lead id order, from `after` (the
    last lead id of the previous page): a keyset over the (project, segment, kind, lead)
    index, never an OFFSET. Each with the lead's name, email and company."""
    check_kind(kind)
    visible_segment(conn, project, principal, segment_id)
    c, lead = manual_members.c, leads.c
    query = (
        sa.select(
            c.lead_id,
            c.added_at,
            lead.email,
            lead.first_name,
            lead.last_name,
            lead.company,
        )
        .join(leads, sa.and_(lead.project_id == c.project_id, lead.id == c.lead_id))
        .where(c.project_id == project.id, c.segment_id == segment_id, c.kind == kind)
        .order_by(c.lead_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(c.lead_id > after)
    return [
        {
            "lead_id": row.lead_id,
            "added_at": as_utc(row.added_at),
            "email": row.email,
            "name": " ".join(p for p in (row.first_name, row.last_name) if p) or None,
            "company": row.company,
        }
        for row in conn.execute(query)
    ]
