"""Segments: saved filters evaluated live for counts, member pages, exports and previews."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa

from segmint.auth import Principal
from segmint.clock import SYSTEM_CLOCK, Clock, as_utc
from segmint.engine import (
    account_membership,
    account_segments,
    answering,
    filtering,
    lists,
    membership,
    outbox,
    segment_tags,
    segment_versions,
    usage,
)
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
from segmint.store.tables import leads, manual_members, segment_members, segments, users
from segmint.store.tables import segment_tags as tags_table

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
    """Whether the caller may evaluate this segment (see visible_segment), judged from the row
    in hand: a list of segments asks nothing more of the database for an owner or admin."""
    if principal.reads_only_own_segments and row.created_by != principal.user_id:
        return False
    try:
        filtering.check_stored_readable(conn, project, principal, row.filter)
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
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    scope: Scope,
    q: str | None,
    created_by: str | None = None,
    tags: list[str] | None = None,
) -> list[SegmentWithCreator]:
    """The segments in `scope`, newest first, narrowed by each filter given: a search in names
    and descriptions, a creator (an email, or `me`) and tags (every one of them)."""
    query = _select().where(segments.c.project_id == project.id)
    if not scope.everyone:
        query = query.where(segments.c.created_by == principal.user_id)
    if created_by is not None:
        query = query.where(
            segments.c.created_by == creator_id(conn, project, principal, created_by)
        )
    tagged = segment_tags.tagged_condition(conn, project, tags or [])
    if tagged is not None:
        query = query.where(tagged)
    ordered = query.order_by(segments.c.created_at.desc(), segments.c.id.desc())
    rows = [SegmentWithCreator.of(r) for r in conn.execute(ordered)]
    if q and q.strip():
        needle = q.strip().casefold()
        rows = [
            r for r in rows if needle in r.name.casefold() or needle in r.description.casefold()
        ]
    return rows


def creator_id(conn: sa.Connection, project: Project, principal: Principal, text: str) -> int:
    """The user a `created_by` filter names: `me`, or the email of one of the organization."""
    wanted = text.strip().lower()
    if wanted == "me":
        return principal.user_id
    found = conn.execute(
        sa.select(users.c.id).where(
            users.c.organization_id == project.organization_id, users.c.email == wanted
        )
    ).scalar()
    if found is None:
        raise InvalidInput("no user of the organization has this email", "created_by")
    return int(found)


@dataclass(frozen=True)
class Facet:
    value: str
    segments: int


def facets(
    conn: sa.Connection, project: Project, principal: Principal, scope: Scope
) -> dict[str, list[Facet]]:
    """What the segments in `scope` can be filtered by: their creators and their tags, each
    with how many segments it has (two grouped queries)."""
    in_scope = [segments.c.project_id == project.id]
    if not scope.everyone:
        in_scope.append(segments.c.created_by == principal.user_id)
    creators = (
        sa.select(users.c.email, sa.func.count())
        .select_from(segments.join(users, users.c.id == segments.c.created_by))
        .where(*in_scope)
        .group_by(users.c.email)
        .order_by(users.c.email)
    )
    tags = (
        sa.select(tags_table.c.tag, sa.func.count())
        .select_from(
            tags_table.join(
                segments,
                sa.and_(
                    segments.c.project_id == tags_table.c.project_id,
                    segments.c.id == tags_table.c.segment_id,
                ),
            )
        )
        .where(tags_table.c.project_id == project.id, *in_scope)
        .group_by(tags_table.c.tag)
    )
    tag_facets = sorted(
        (Facet(tag, count) for tag, count in conn.execute(tags)), key=lambda f: f.value.casefold()
    )
    return {
        "creators": [Facet(email, count) for email, count in conn.execute(creators)],
        "tags": tag_facets,
    }


def create_segment(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    data: Mapping[str, Any],
    clock: Clock = SYSTEM_CLOCK,
) -> SegmentWithCreator:
    audience = account_segments.check_audience(data.get("audience"))
    tree = filtering.validate(
        conn, project, data.get("filter"), reader=principal, audience=audience
    )
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
            audience=audience,
        )
        .returning(segments.c.id)
    ).scalar_one()
    segment_tags.replace_tags(conn, project, new_id, segment_tags.check_tags(data.get("tags")))
    if data.get("active", True):  # lead and account segments alike (their syncs differ)
        resync_later(conn, project, new_id, Reason.CREATED, now)
    created = get_segment(conn, project, new_id)
    segment_versions.record_version(conn, project, created, principal.user_id, now)
    return created


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
    *,
    restored_from: int | None = None,
) -> SegmentWithCreator:
    """Change the given fields; a changed filter bumps `version`. A changed name, description
    or filter is recorded as the segment's next saved version (`restored_from`: the number of
    the version it brings back)."""
    row = editable_segment(conn, project, principal, segment_id)
    changes: dict[str, Any] = {}
    if data.get("audience") is not None and data["audience"] != row.audience:
        raise InvalidInput(
            f"is fixed when a segment is created (this one's is {row.audience!r}): "
            "create a new segment instead",
            "audience",
        )
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
        # "Assigned to me" in a segment means its creator's leads, whoever edits it.
        creator = row.created_by_email
        tree = filtering.validate(
            conn,
            project,
            data["filter"],
            segment_id=segment_id,
            reader=principal,
            audience=row.audience,
            me=creator,
        )
        new_filter = filtering.to_json(tree)
        if new_filter != row.filter:
            changes.update(filter=new_filter, version=row.version + 1)
    retagged = "tags" in data and segment_tags.replace_tags(
        conn, project, segment_id, segment_tags.check_tags(data["tags"])
    )
    now = clock.now()
    if changes or retagged:
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
    saved = get_segment(conn, project, segment_id)
    if _definition(saved) != _definition(row):
        segment_versions.record_version(
            conn, project, saved, principal.user_id, now, restored_from=restored_from
        )
    return saved


def _definition(row: SegmentRow) -> tuple[str, str, Any]:
    """What a saved version keeps of a segment."""
    return row.name, row.description, row.filter


def restore_version(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    segment_id: int,
    number: int,
    clock: Clock = SYSTEM_CLOCK,
) -> SegmentWithCreator:
    """Save an earlier version's name, description and filter as the segment's newest version:
    an update like any other (validated again, membership re-evaluated), recorded as restoring
    `number`. Restoring what the segment already is saves nothing."""
    editable_segment(conn, project, principal, segment_id)
    old = segment_versions.get_version(conn, project, segment_id, number)
    data = {"name": old.name, "description": old.description, "filter": old.filter}
    return update_segment(conn, project, principal, segment_id, data, clock, restored_from=number)


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
        "tags": segment_tags.tags_of(conn, project, [row.id])[row.id],
        "audience": row.audience,
    }
    created = create_segment(conn, project, principal, copy, clock)
    _copy_manual_members(conn, project, row.id, created.id)
    return created


def _copy_manual_members(conn: sa.Connection, project: Project, source: int, target: int) -> None:
    """The leads included or excluded by hand are part of what a segment is: a copy keeps them
    (in the same transaction as the copy, before its first sync reads them)."""
    c = manual_members.c
    kept = sa.select(
        c.project_id, sa.literal(target, sa.BigInteger), c.lead_id, c.kind, c.added_at
    ).where(c.project_id == project.id, c.segment_id == source)
    columns = ["project_id", "segment_id", "lead_id", "kind", "added_at"]
    conn.execute(manual_members.insert().from_select(columns, kept))


@dataclass(frozen=True)
class Refreshed:
    entered: int
    exited: int
    member_count: int  # the stored members after the refresh
    at: datetime


ALWAYS_CURRENT = "the segment is active: its membership is always current, nothing to refresh"


def refresh_segment(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    segment_id: int,
    clock: Clock = SYSTEM_CLOCK,
) -> Refreshed:
    """Bring an inactive segment's frozen membership to its filter's answer now, once (it stays
    inactive). Who may edit it may refresh it: the history and webhooks it writes are changes."""
    row = editable_segment(conn, project, principal, segment_id)
    if row.active:
        raise Conflict(ALWAYS_CURRENT, "segment")
    now = clock.now()
    accounts = account_segments.is_accounts(row)
    refresh = account_membership.refresh_frozen if accounts else membership.refresh_frozen
    changes = refresh(conn, project, segment_id, now)
    if changes is None:  # activated (or deleted) meanwhile, between the read and the lock
        raise Conflict(ALWAYS_CURRENT, "segment")
    stored = (
        account_segments.stored_count(conn, project, row.id)
        if accounts
        else stored_member_count(conn, project, row)
    )
    return Refreshed(changes.entered, changes.exited, stored, now)


def stored_member_count(conn: sa.Connection, project: Project, row: SegmentRow) -> int:
    """How many members the segment stores, read in this transaction (the index would not see
    what it has just written)."""
    query = sa.select(sa.func.count()).where(
        segment_members.c.project_id == project.id, segment_members.c.segment_id == row.id
    )
    return int(conn.execute(query).scalar() or 0)


def delete_segment(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    segment_id: int,
    force: bool,
    campaigns: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> list[usage.User]:
    """Delete the definition (never leads). While something uses it the delete is refused,
    unless told what to do: `campaigns` (detach or keep) settles the campaigns that use it,
    `force` everything (campaigns kept, as `keep`). Returns the campaigns it was detached from."""
    editable_segment(conn, project, principal, segment_id)
    if campaigns is not None and campaigns not in usage.CAMPAIGN_CHOICES:
        raise InvalidInput("must be 'detach' or 'keep'", "campaigns")
    found = usage.segment_usage(conn, project, segment_id)
    unsettled = found.segments + found.lists + ([] if campaigns else found.campaigns)
    if unsettled and not force:
        raise Conflict(_in_use_message(unsettled), "segment")
    detached = []
    if campaigns == usage.DETACH:
        detached = usage.detach_segment(conn, project, segment_id, clock.now())
    conn.execute(
        segments.delete().where(segments.c.project_id == project.id, segments.c.id == segment_id)
    )
    return detached


def _in_use_message(unsettled: list[usage.User]) -> str:
    """What still uses the segment, and the ways to delete it anyway."""
    ways = []
    if any(u.kind == "campaign" for u in unsettled):
        ways.append(
            "?campaigns=detach to remove it from the campaigns, or ?campaigns=keep to leave "
            "them showing it as deleted"
        )
    if any(u.kind != "campaign" for u in unsettled):
        ways.append("?force=true to delete it anyway")
    names = ", ".join(map(str, unsettled))
    return f"segment is used by {names}; delete with {'; or '.join(ways)}"


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
    if account_segments.is_accounts(row):
        total, engine = account_segments.segment_count(conn, project, row, now)
    else:
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
        if readable(conn, project, reader, row) and account_segments.is_accounts(row):
            with contextlib.suppress(InvalidInput):  # a deleted reference: shown uncounted
                counts[row.id] = account_segments.segment_count(conn, project, row, now)[0]
        elif readable(conn, project, reader, row):
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
        tree = parse_filter(leaf, project, source, me=filtering.reader_email(reader))
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
    account_segments.only_lead_segment(row, "a page of leads")
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
    account_segments.only_lead_segment(row, "a static list of leads")
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
    condition = segment_condition(conn, project, row, clock.now())
    audience = answering.segment_audience(conn, project, row)
    lists.replace_members(conn, project, list_id, condition, clock, audience)
    return list_id


def public_segment(
    row: SegmentWithCreator,
    member_count: int | None,
    tags: list[str] | None = None,
    words: dict[str, Any] | None = None,
) -> dict[str, Any]:
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
        "audience": row.audience,
        "tags": tags or [],
        "words": words,
    }
    if member_count is not None:
        data["member_count"] = member_count
    return data


def public_segments(
    conn: sa.Connection,
    project: Project,
    reader: Principal,
    rows: list[SegmentWithCreator],
    counts: Mapping[int, int | None],
) -> list[dict[str, Any]]:
    """Segments as the API shows them, with their tags and their conditions in words: a fixed
    number of queries however many rows."""
    tags = segment_tags.tags_of(conn, project, [row.id for row in rows])
    words = filtering.describe_stored(
        conn,
        project,
        reader,
        {row.id: row.filter for row in rows},
        {row.id: row.audience for row in rows},
    )
    return [public_segment(row, counts.get(row.id), tags[row.id], words[row.id]) for row in rows]
