"""Segments: saved filters evaluated live for counts, member pages, exports and previews."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa

from segmint.auth import Principal
from segmint.clock import SYSTEM_CLOCK, Clock, as_utc
from segmint.engine import answering, filtering, lists, outbox, usage
from segmint.engine.leads import Page, audience_page, parse_sort
from segmint.engine.membership import Reason
from segmint.engine.paging import Sort
from segmint.errors import Conflict, Forbidden, InvalidInput, NotFound
from segmint.filters import parse_filter
from segmint.filters.parse import stored_leaves
from segmint.index import Audience
from segmint.model import Role
from segmint.projects import Project
from segmint.storable import check_storable
from segmint.store.rows import SegmentRow, SegmentWithCreator
from segmint.store.tables import leads, segments, users

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLOR = "#4f46e5"
LARGE_SEGMENT = 10_000
LARGE_SEGMENT_WARNING = "Large segment - consider using list for better performance"
SAMPLE_SIZE = 5
EVALUATION_RECORDED_EVERY = timedelta(minutes=1)  # last_evaluated_at is written at most this often


@dataclass(frozen=True)
class Scope:
    """Which segments a caller lists: their own, or the whole organization's project."""

    everyone: bool

    @classmethod
    def parse(cls, text: str, principal: Principal) -> Scope:
        if text not in ("mine", "all"):
            raise InvalidInput("must be 'mine' or 'all'", "scope")
        if text == "all" and principal.role == Role.MEMBER:
            raise Forbidden("only owners and admins may list all organization segments")
        return cls(everyone=text == "all")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("is required", "name")
    text: str = name.strip()
    if len(text) > 255:
        raise InvalidInput("must be at most 255 characters", "name")
    check_storable(text, "name")
    return text


def check_description(description: Any) -> str:
    description = (description or "").strip()
    if len(description) > 500:
        raise InvalidInput("must be at most 500 characters", "description")
    check_storable(description, "description")
    return str(description)


def check_color(color: Any) -> str:
    if color is None:
        return DEFAULT_COLOR
    if not isinstance(color, str) or not COLOR.fullmatch(color):
        raise InvalidInput("must be a colour like #1f9d55", "color")
    return color.lower()


def _select() -> sa.Select[Any]:
    return sa.select(segments, users.c.email.label("created_by_email")).join(
        users, users.c.id == segments.c.created_by, isouter=True
    )


def get_segment(conn: sa.Connection, project: Project, segment_id: int) -> SegmentWithCreator:
    row = conn.execute(
        _select().where(segments.c.project_id == project.id, segments.c.id == segment_id)
    ).first()
    if row is None:
        raise NotFound(f"no segment {segment_id}")
    return SegmentWithCreator.of(row)


def visible_segment(
    conn: sa.Connection, project: Project, principal: Principal, segment_id: int
) -> SegmentWithCreator:
    """A segment the caller may read: owners and admins read all, members their own, and
    only when it reaches no segment of someone else's (its members would show through)."""
    row = get_segment(conn, project, segment_id)
    if principal.reads_only_own_segments and row.created_by != principal.user_id:
        raise Forbidden("members can only see the segments they created")
    filtering.check_stored_readable(conn, project, principal, row.filter)
    return row


def readable(conn: sa.Connection, project: Project, principal: Principal, row: SegmentRow) -> bool:
    """Whether the caller may evaluate this segment (see visible_segment)."""
    try:
        visible_segment(conn, project, principal, row.id)
    except Forbidden:
        return False
    return True


def editable_segment(
    conn: sa.Connection, project: Project, principal: Principal, segment_id: int
) -> SegmentWithCreator:
    """A segment the caller may change or delete: its creator and owners."""
    row = get_segment(conn, project, segment_id)
    if principal.role != Role.OWNER and row.created_by != principal.user_id:
        raise Forbidden("only the segment's creator and owners may change it")
    return row


def list_segments(
    conn: sa.Connection, project: Project, principal: Principal, scope: Scope, q: str | None
) -> list[SegmentWithCreator]:
    query = _select().where(segments.c.project_id == project.id)
    if not scope.everyone:
        query = query.where(segments.c.created_by == principal.user_id)
    ordered = query.order_by(segments.c.created_at.desc(), segments.c.id.desc())
    rows = [SegmentWithCreator.of(r) for r in conn.execute(ordered)]
    if q and q.strip():
        needle = q.strip().casefold()
        rows = [
            r for r in rows if needle in r.name.casefold() or needle in r.description.casefold()
        ]
    return rows


def create_segment(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    data: Mapping[str, Any],
    clock: Clock = SYSTEM_CLOCK,
) -> SegmentWithCreator:
    tree = filtering.validate(conn, project, data.get("filter"), reader=principal)
    now = clock.now()
    new_id = conn.execute(
        segments.insert()
        .values(
            project_id=project.id,
            name=check_name(data.get("name")),
            description=check_description(data.get("description")),
            color=check_color(data.get("color")),
            filter=filtering.to_json(tree),
            active=bool(data.get("active", True)),
            created_by=principal.user_id,
            created_at=now,
            updated_at=now,
            version=1,
        )
        .returning(segments.c.id)
    ).scalar_one()
    if data.get("active", True):
        resync_later(conn, project, new_id, Reason.CREATED, now)
    return get_segment(conn, project, new_id)


def resync_later(
    conn: sa.Connection, project: Project, segment_id: int, reason: str, now: datetime
) -> None:
    """Ask the worker to bring the maintained membership up to date (same transaction)."""
    payload = {"segment_id": segment_id, "reason": reason}
    outbox.enqueue(conn, project.id, outbox.Kind.SEGMENT, payload, now)


def update_segment(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    segment_id: int,
    data: Mapping[str, Any],
    clock: Clock = SYSTEM_CLOCK,
) -> SegmentWithCreator:
    """Change the given fields; a changed filter bumps `version`."""
    row = editable_segment(conn, project, principal, segment_id)
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = check_name(data["name"])
    if "description" in data:
        changes["description"] = check_description(data["description"])
    if "color" in data:
        changes["color"] = check_color(data["color"])
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise InvalidInput("must be true or false", "active")
        changes["active"] = data["active"]
    if "filter" in data:
        tree = filtering.validate(
            conn, project, data["filter"], segment_id=segment_id, reader=principal
        )
        new_filter = filtering.to_json(tree)
        if new_filter != row.filter:
            changes.update(filter=new_filter, version=row.version + 1)
    if changes:
        now = clock.now()
        conn.execute(
            segments.update()
            .where(segments.c.project_id == project.id, segments.c.id == segment_id)
            .values(**changes, updated_at=now)
        )
        active = changes.get("active", row.active)
        if active and not row.active:
            resync_later(conn, project, segment_id, Reason.ACTIVATION, now)
        elif active and "filter" in changes:
            resync_later(conn, project, segment_id, Reason.FILTER_EDIT, now)
    return get_segment(conn, project, segment_id)


def duplicate_segment(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    segment_id: int,
    clock: Clock = SYSTEM_CLOCK,
) -> SegmentWithCreator:
    row = visible_segment(conn, project, principal, segment_id)
    copy = {
        "name": (row.name + " (copy)")[:255],
        "description": row.description,
        "color": row.color,
        "filter": row.filter,
        "active": row.active,
    }
    return create_segment(conn, project, principal, copy, clock)


def delete_segment(
    conn: sa.Connection, project: Project, principal: Principal, segment_id: int, force: bool
) -> None:
    """Delete the definition (never leads); refuse while something depends on it, unless forced."""
    editable_segment(conn, project, principal, segment_id)
    users_of = usage.segment_usage(conn, project, segment_id).all()
    if users_of and not force:
        names = ", ".join(map(str, users_of))
        raise Conflict(
            f"segment is used by {names}; delete with ?force=true to delete it anyway",
            "segment",
        )
    conn.execute(
        segments.delete().where(segments.c.project_id == project.id, segments.c.id == segment_id)
    )


def segment_condition(
    conn: sa.Connection, project: Project, row: SegmentRow, now: datetime
) -> sa.ColumnElement[bool]:
    """Who is in the segment: live for an active one, the frozen membership for an inactive one
    (inactive segments keep the members they had and stop updating)."""
    where = answering.sql_condition(
        conn, project, answering.segment_audience(conn, project, row), now
    )
    assert where is not None, "a segment always has a filter or its members"
    return where


def count_where(conn: sa.Connection, project: Project, where: sa.ColumnElement[bool]) -> int:
    query = (
        sa.select(sa.func.count()).select_from(leads).where(leads.c.project_id == project.id, where)
    )
    return int(conn.execute(query).scalar() or 0)


class Count(NamedTuple):
    total: int
    at: datetime  # when it was evaluated
    engine: str  # who answered: the columnar index or SQL


def count(conn: sa.Connection, project: Project, row: Any, clock: Clock = SYSTEM_CLOCK) -> Count:
    """The live member count, and when it was evaluated. That time is recorded as
    last_evaluated_at when the stored one is a minute old or more (accurate to a minute): the
    choice is made from the row already loaded, since on SQLite even an UPDATE that matches
    nothing takes the write lock, and a segment's page would otherwise write on every view."""
    now = clock.now()
    total, engine = answering.count(
        conn, project, answering.segment_audience(conn, project, row), now
    )
    stored = row.last_evaluated_at
    if stored is None or as_utc(stored) + EVALUATION_RECORDED_EVERY <= now:
        conn.execute(
            segments.update()
            .where(segments.c.project_id == project.id, segments.c.id == row.id)
            .values(last_evaluated_at=now)
        )
    return Count(total, now, engine)


def member_counts(
    conn: sa.Connection,
    project: Project,
    rows: list[SegmentWithCreator],
    reader: Principal,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[int, int | None]:
    """Live counts of several segments: from one catch-up of the index, else one COUNT per
    segment. A segment the reader may not evaluate (visible_segment), or that refers to a
    segment since deleted by force, is shown without a count."""
    now = clock.now()
    counts: dict[int, int | None] = {row.id: None for row in rows}
    audiences: dict[int, Audience] = {}
    kinds = filtering.manual_kinds_of(conn, project, [row.id for row in rows])
    for row in rows:
        if readable(conn, project, reader, row):
            try:
                audiences[row.id] = answering.segment_audience(
                    conn, project, row, kinds=kinds[row.id]
                )
            except InvalidInput:
                continue
    indexed = _indexed_counts(conn, project, audiences, now)
    for segment_id, audience in audiences.items():
        try:
            counts[segment_id] = (
                indexed[segment_id]
                if indexed is not None
                else answering.count(conn, project, audience, now)[0]
            )
        except InvalidInput:
            counts[segment_id] = None
    return counts


def _indexed_counts(
    conn: sa.Connection, project: Project, audiences: dict[int, Audience], now: datetime
) -> dict[int, int] | None:
    try:
        found = answering.counts(conn, project, list(audiences.values()), now)
    except InvalidInput:  # one refers to a deleted segment: each is counted on its own instead
        return None
    return None if found is None else dict(zip(audiences, found, strict=True))


def preview(
    conn: sa.Connection,
    project: Project,
    data: Any,
    reader: Principal | None,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, Any]:
    """Count and sample of an unsaved filter (and, under `engine`, who answered)."""
    tree = filtering.validate(conn, project, data, reader=reader)
    now = clock.now()
    audience = Audience((tree,))
    newest_first = parse_sort("-created_at")
    sample = audience_page(conn, project, audience, newest_first, 1, SAMPLE_SIZE, now)
    warnings = [LARGE_SEGMENT_WARNING] if sample.total > LARGE_SEGMENT else []
    return {
        "count": sample.total,
        "sample": sample.items,
        "warnings": warnings,
        "engine": sample.engine,
    }


MAX_COUNTED_CONDITIONS = 30  # a builder's rows; beyond that a count per row says little


def condition_counts(
    conn: sa.Connection,
    project: Project,
    data: Any,
    reader: Principal | None,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[list[dict[str, Any]], str]:
    """How many leads each condition of an unsaved filter matches on its own (its NOT
    included), by the JSON path of its row, as the builder shows beside each; and who
    answered. A group is its conditions: its own count is the filter's."""
    filtering.validate(conn, project, data, reader=reader)  # a 422 names the bad row first
    now = clock.now()
    source = filtering.source_for(conn, project, reader)
    counts: list[dict[str, Any]] = []
    engines: set[str] = set()
    for path, leaf in _conditions(data, "filter")[:MAX_COUNTED_CONDITIONS]:
        tree = parse_filter(leaf, project, source)
        total, engine = answering.count(conn, project, Audience((tree,)), now)
        counts.append({"path": path, "count": total})
        engines.add(engine)
    return counts, answering.SQL if answering.SQL in engines else answering.INDEX


def _conditions(data: Any, path: str) -> list[tuple[str, Any]]:
    """(path, JSON) of each condition, event condition or reference in a filter, outside
    events' `where` (a row of its own there counts events, not leads), with the NOTs right
    around it (the row says NOT), at the path of its innermost `not` as the builder names rows."""
    found = []
    for at, leaf in stored_leaves(data, path):
        node: Any = leaf
        for _ in range(_trailing_nots(at)):
            node = {"not": node}
        found.append((at, node))
    return found


def _trailing_nots(path: str) -> int:
    count = 0
    while path.endswith(".not"):
        path = path[: -len(".not")]
        count += 1
    return count


def members(
    conn: sa.Connection,
    project: Project,
    row: SegmentRow,
    sort: Sort,
    page: int,
    per_page: int,
    q: str | None,
    clock: Clock = SYSTEM_CLOCK,
) -> Page:
    audience = answering.segment_audience(conn, project, row, q)
    return audience_page(conn, project, audience, sort, page, per_page, clock.now())


def convert_to_list(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    row: SegmentRow,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """A static list holding the segment's current members, with its filter kept for refresh."""
    list_id = lists.create_list(
        conn,
        project,
        {
            "name": row.name,
            "description": row.description,
            "filter": row.filter,
            "source_segment_id": row.id,
        },
        principal.user_id,
        clock,
    )
    lists.replace_members(
        conn, project, list_id, segment_condition(conn, project, row, clock.now()), clock
    )
    return list_id


def public_segment(row: SegmentWithCreator, member_count: int | None) -> dict[str, Any]:
    data = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "color": row.color,
        "filter": row.filter,
        "active": row.active,
        "created_by": row.created_by_email,
        "created_at": as_utc(row.created_at),
        "updated_at": as_utc(row.updated_at),
        "last_evaluated_at": as_utc(row.last_evaluated_at) if row.last_evaluated_at else None,
        "version": row.version,
    }
    if member_count is not None:
        data["member_count"] = member_count
    return data
