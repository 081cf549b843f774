"""Maintained membership of active segments and its append-only history.

`sync` compares the live evaluation of a segment (for all leads, or only some) with the stored
members and applies the difference set-wise in the database: one INSERT ... SELECT for the
history of each direction, one for the new members, one DELETE for those who left. When the
columnar index answers who matches (engine/answering.py), the matching ids are handed to the
database as one array parameter, and only up to INDEX_FULL_SYNC_IDS of them: a larger segment's
full sync stays set-wise in SQL, nothing pulled into Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from segmint.engine import answering, filtering, webhooks
from segmint.engine.dependencies import ReadSet, read_set
from segmint.errors import SegmintError
from segmint.filters.source import CachingSegmentSource
from segmint.filters.tree import Node
from segmint.index import Audience
from segmint.projects import Project
from segmint.store.db import one_of
from segmint.store.rows import SegmentRow
from segmint.store.tables import leads, membership_history, segment_members, segments

MemberIds = sa.Select[Any] | sa.CompoundSelect[Any]  # a query of lead (or account) ids, one column
LeadIds = MemberIds
T = TypeVar("T")


class Reason:
    """Why a lead entered or left: recorded on every history row."""

    LEAD_WRITE = "lead_write"
    EVENT = "event"
    FILTER_EDIT = "filter_edit"
    ACTIVATION = "activation"
    CREATED = "created"
    DEPENDENCY = "dependency"  # a segment or list this one refers to changed
    TIME = "time"
    SETTINGS = "settings"  # the project's time zone moved its calendar periods
    REFRESH = "refresh"  # someone refreshed an inactive segment by hand
    MANUAL = "manual"  # a lead was included in or excluded from the segment by hand
    ACCOUNT_WRITE = "account_write"  # an account was created or its fields changed (accounts)


@dataclass(frozen=True)
class Changes:
    entered: int = 0
    exited: int = 0

    def __add__(self, other: Changes) -> Changes:
        return Changes(self.entered + other.entered, self.exited + other.exited)


def _lock_segment(conn: sa.Connection, project: Project, segment_id: int) -> SegmentRow | None:
    """The segment row, locked on PostgreSQL so concurrent workers sync one segment in turn."""
    query = (
        sa.select(segments)
        .where(segments.c.project_id == project.id, segments.c.id == segment_id)
        .with_for_update()
    )
    row = conn.execute(query).first()
    return None if row is None else SegmentRow.of(row)


def lock_segment(conn: sa.Connection, project: Project, segment_id: int) -> SegmentRow | None:
    """The segment row, locked on PostgreSQL as a sync locks it (None if there is none)."""
    return _lock_segment(conn, project, segment_id)


def lock_segments(conn: sa.Connection, project: Project, segment_ids: Iterable[int]) -> None:
    """Lock these segments' rows (PostgreSQL) in id order, ahead of syncing them one by one."""
    conn.execute(
        sa.select(segments.c.id)
        .where(segments.c.project_id == project.id, segments.c.id.in_(sorted(set(segment_ids))))
        .order_by(segments.c.id)
        .with_for_update()
    )


def sync(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    now: datetime,
    reason: str,
    detail: str | None = None,
    lead_ids: Iterable[int] | None = None,
) -> Changes:
    """Bring a segment's stored members in line with its filter at `now` (for `lead_ids` only,
    if given), writing one history row per lead that entered or left. Inactive or missing
    segments are left as they are (their membership is frozen)."""
    row = _lock_segment(conn, project, segment_id)
    if row is None or not row.maintained:
        return Changes()
    return _sync_row(conn, project, row, now, reason, detail, lead_ids)


def refresh_frozen(
    conn: sa.Connection, project: Project, segment_id: int, now: datetime
) -> Changes | None:
    """Recompute an inactive segment's stored membership once, from its filter at `now`, as a
    full sync of an active one does (history rows, webhooks, set-wise in the database), and
    stamp `last_evaluated_at`; the segment stays inactive. None when the segment is missing
    or active (an active segment's membership is maintained already)."""
    row = _lock_segment(conn, project, segment_id)
    if row is None or row.active or row.audience != "leads":
        return None
    changes = _sync_row(conn, project, row, now, Reason.REFRESH, None, None)
    mark_evaluated(conn, project, segment_id, now)
    return changes


def mark_evaluated(conn: sa.Connection, project: Project, segment_id: int, now: datetime) -> None:
    """A frozen membership was recomputed at `now` (a refresh, of leads or of accounts)."""
    conn.execute(
        segments.update()
        .where(segments.c.project_id == project.id, segments.c.id == segment_id)
        .values(last_evaluated_at=now)
    )


def mark_synced(conn: sa.Connection, project: Project, segment_id: int, now: datetime) -> None:
    """Membership is known right at `now` (a full sync or a time sweep up to `now` just ran),
    of a lead or an account segment: the next time sweep goes on from here."""
    conn.execute(
        segments.update()
        .where(segments.c.project_id == project.id, segments.c.id == segment_id)
        .values(time_synced_at=now)
    )


def _sync_row(
    conn: sa.Connection,
    project: Project,
    row: SegmentRow,
    now: datetime,
    reason: str,
    detail: str | None,
    lead_ids: Iterable[int] | None,
) -> Changes:
    """The sync itself, for a segment row already locked (whatever its state)."""
    segment_id = row.id
    ids = None if lead_ids is None else sorted(set(lead_ids))
    if ids == []:
        return Changes()
    tree = filtering.segment_tree(conn, project, segment_id, row.filter)
    dialect = conn.dialect.name
    members = sa.select(segment_members.c.lead_id).where(
        segment_members.c.project_id == project.id, segment_members.c.segment_id == segment_id
    )
    if ids is not None:
        members = members.where(one_of(segment_members.c.lead_id, ids, dialect))
    indexed = _matching_indexed(conn, project, segment_id, tree, ids, now)
    if indexed is not None:
        matching = _id_list(project.id, indexed, dialect)
    else:
        matching = sa.select(leads.c.id).where(
            leads.c.project_id == project.id, filtering.condition(conn, project, tree, now, ids)
        )
        if ids is not None:
            matching = matching.where(one_of(leads.c.id, ids, dialect))
    hooks = webhooks.listeners(conn, project.id)
    stamp = HistoryStamp(project.id, segment_id, row.version, now, reason, detail, hooks)
    by_lists = ids is not None or indexed is not None
    entered_ids, exited_ids = LEAD_TABLES.moves(conn, project, matching, members, by_lists)
    changes = _write(conn, stamp, entered_ids, exited_ids)
    if ids is None:  # every lead is now right as of `now`: time sweeps go on from here
        mark_synced(conn, project, segment_id, now)
    return changes


# The index answers a sync's "who matches now" when this process has one for the project; the
# differences with the stored members are still taken in SQL, in the sync's transaction.
#
# Why the index's snapshot is right for the sync, though it is not the worker's transaction:
# the index opens its own snapshot (and catches up to it) after the work item was claimed and
# after the segment row was locked. Every write a work item is about was committed before the
# item could be claimed (the outbox row is written in the same transaction as the write), so
# the snapshot sees all of them, as the SQL path's statements do. A write committed after the
# snapshot has its own work item, which waits for this sync's segment lock and re-evaluates its
# leads afterwards. The stored members an active segment's sync compares against change only
# under that lock (syncs, sweeps) or by a lead's deletion; the comparison reads them in the
# sync's transaction, and every id list written is re-read through `leads`, so a lead deleted
# meanwhile is neither entered nor left twice. What the transaction itself wrote before the
# sync (a dependent segment's sync after its referenced segment's) the index does not see: an
# active segment referenced by `in_segment` is evaluated through its filter, not its stored
# members, on both paths; time in segment does read the stored members, so the index declines
# it for a segment whose members this transaction changed (index/loading.wrote_members) and
# SQL, which sees the pass's own writes, answers.
INDEX_FULL_SYNC_IDS = answering.MAX_IDS_TO_SQL  # a full sync hands at most this many to SQL
INDEX_LEAD_BATCH = 20_000  # a partial sync of at most this many leads asks the index


def _matching_indexed(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    tree: Node,
    ids: Sequence[int] | None,
    now: datetime,
) -> list[int] | None:
    """The leads (of `ids`, or of all) the segment matches, from the index; None: ask SQL.

    A full sync through the index sends every matching id to the database in one parameter
    (an array): up to INDEX_FULL_SYNC_IDS that beats evaluating the filter over every lead;
    a larger segment syncs set-wise in SQL, never pulled through Python."""
    if ids is None:
        found = answering.matching_all(conn, project, Audience((tree,)), now)
        if found is None or len(found.value) > INDEX_FULL_SYNC_IDS:
            return None
        return [int(i) for i in found.value]
    if len(ids) > INDEX_LEAD_BATCH:
        return None
    among = answering.matching_among(conn, project, {segment_id: tree}, ids, now)
    return None if among is None else sorted(among.value[segment_id])


def apply_frozen(
    conn: sa.Connection,
    project: Project,
    row: SegmentRow,
    entering: Sequence[int],
    leaving: Sequence[int],
    now: datetime,
    detail: str | None,
) -> Changes:
    """An inactive segment's frozen members changed by hand (a manual include or exclude):
    the leads named enter or leave as they are, no filter evaluated, with their history rows
    (reason `manual`) and webhooks, exactly as a sync writes them. The caller holds the row's
    lock (`lock_segments`)."""
    stored = member_ids_among(conn, project, row.id, [*entering, *leaving])
    hooks = webhooks.listeners(conn, project.id)
    stamp = HistoryStamp(project.id, row.id, row.version, now, Reason.MANUAL, detail, hooks)
    dialect = conn.dialect.name
    entered = sorted(set(entering) - stored)
    left = sorted(set(leaving) & stored)
    return _write(
        conn, stamp, _id_list(project.id, entered, dialect), _id_list(project.id, left, dialect)
    )


def matching_now(
    conn: sa.Connection, project: Project, row: SegmentRow, lead_ids: list[int], now: datetime
) -> set[int]:
    """Which of these leads the segment's membership tree (filter and manual) matches at `now`."""
    return _matching_each(conn, project, {row.id: row}, lead_ids, now)[row.id]


def member_ids_among(
    conn: sa.Connection, project: Project, segment_id: int, lead_ids: Sequence[int]
) -> set[int]:
    """Which of these leads are stored members of the segment."""
    if not lead_ids:
        return set()
    return set(
        conn.execute(
            sa.select(segment_members.c.lead_id).where(
                segment_members.c.project_id == project.id,
                segment_members.c.segment_id == segment_id,
                one_of(segment_members.c.lead_id, sorted(set(lead_ids)), conn.dialect.name),
            )
        ).scalars()
    )


def _write(
    conn: sa.Connection, stamp: HistoryStamp, entered_ids: LeadIds, exited_ids: LeadIds
) -> Changes:
    """History rows, then the stored members, for the leads that entered and those that left."""
    entered = _record(conn, stamp, "entered", entered_ids)
    if entered:
        LEAD_TABLES.add(conn, stamp, entered_ids)
    exited = _record(conn, stamp, "exited", exited_ids)
    if exited:
        LEAD_TABLES.remove(conn, stamp, exited_ids)
    return Changes(entered, exited)


@dataclass(frozen=True)
class PartialSync:
    """Re-evaluate these leads in this segment, for this reason."""

    segment_id: int
    reason: str
    detail: str | None
    lead_ids: frozenset[int]


def sync_leads(
    conn: sa.Connection, project: Project, syncs: Sequence[PartialSync], now: datetime
) -> Changes:
    """Several partial syncs in one pass: the leads are read once with every segment's filter
    as a column of the same statement, and the stored members of all the segments read once,
    instead of a lead lookup and a member scan per segment (the cost of following writes at a
    million leads). Only the segments with changes are written to. Inactive or missing
    segments are left as they are."""
    rows = {row.id: row for row in _lock_all(conn, project, {s.segment_id for s in syncs})}
    syncs = sorted(
        (s for s in syncs if s.lead_ids and s.segment_id in rows and rows[s.segment_id].maintained),
        key=lambda s: s.segment_id,
    )
    if not syncs:
        return Changes()
    hooks = webhooks.listeners(conn, project.id)
    changes = Changes()
    for layer in _layers(conn, project, {s.segment_id: rows[s.segment_id] for s in syncs}):
        jobs = [s for s in syncs if s.segment_id in layer]
        changes += _sync_layer(conn, project, rows, jobs, now, hooks)
    return changes


def _layers(conn: sa.Connection, project: Project, rows: dict[int, SegmentRow]) -> list[set[int]]:
    """The segments of one pass in the order their syncs must run: a segment that reads the
    maintained membership of another in the pass (time in segment) after that one has been
    written, so it sees the leads that entered or left it in this same pass. Usually one layer."""
    source = CachingSegmentSource(filtering.StoredSegments(conn, project.id))

    def stored(segment_id: int) -> Node | None:  # the segments `in_segment` inlines too
        data = rows[segment_id].filter if segment_id in rows else source.get_filter(segment_id)
        try:
            return None if data is None else filtering.load(project, data)
        except SegmintError:
            return None  # a broken filter is reported by its own sync

    trees = {i: tree for i in rows if (tree := stored(i)) is not None}
    reads = {i: read_set(tree, stored).tenure for i, tree in trees.items()}
    pending, layers = set(rows), []
    while pending:
        ready = {i for i in pending if not (reads.get(i, set()) & (pending - {i}))}
        layers.append(ready or set(pending))  # (a cycle cannot be saved: validation refuses it)
        pending -= layers[-1]
    return layers


def _sync_layer(
    conn: sa.Connection,
    project: Project,
    rows: dict[int, SegmentRow],
    syncs: list[PartialSync],
    now: datetime,
    hooks: webhooks.Listeners,
) -> Changes:
    ids = sorted(set().union(*(s.lead_ids for s in syncs)))
    segment_ids = sorted({s.segment_id for s in syncs})
    matching = _matching_each(conn, project, {i: rows[i] for i in segment_ids}, ids, now)
    stored = _members_each(conn, project, segment_ids, ids)
    moves: list[tuple[HistoryStamp, list[int], list[int]]] = []
    for job in syncs:
        now_in, was_in = matching[job.segment_id], stored[job.segment_id]
        entering = sorted((now_in - was_in) & job.lead_ids)
        leaving = sorted((was_in - now_in) & job.lead_ids)
        if not entering and not leaving:
            continue
        was_in.update(entering)  # a second job on this segment sees what this one wrote
        was_in.difference_update(leaving)
        version = rows[job.segment_id].version
        stamp = HistoryStamp(
            project.id, job.segment_id, version, now, job.reason, job.detail, hooks
        )
        moves.append((stamp, entering, leaving))
    return _write_moves(conn, project, moves)


def _write_moves(
    conn: sa.Connection, project: Project, moves: list[tuple[HistoryStamp, list[int], list[int]]]
) -> Changes:
    """The moves of a whole sync pass in a few statements rather than four a segment: a batch
    of new leads moves a dozen segments or more, and their statements were a third of the
    pass at a million leads. The ids are re-read once, so a lead deleted meanwhile is neither
    entered nor left; each statement is the segments' id lists united (UNION ALL), its rows
    made by the database as before."""
    moved = sorted({i for _, entering, leaving in moves for i in (*entering, *leaving)})
    if not moved:
        return Changes()
    dialect = conn.dialect.name
    alive = set(conn.execute(_id_list(project.id, moved, dialect)).scalars())
    parts = [
        (stamp, change, kept)
        for stamp, entering, leaving in moves
        for change, ids in (("entered", entering), ("exited", leaving))
        if (kept := [lead_id for lead_id in ids if lead_id in alive])
    ]
    for chunk in _chunks_of(parts, UNION_PARTS):
        _insert_history(conn, project, chunk)
        joined = [
            LEAD_TABLES.member_rows(stamp, _id_list(project.id, ids, dialect))
            for stamp, change, ids in chunk
            if change == "entered"
        ]
        if joined:
            conn.execute(segment_members.insert().from_select(MEMBER_COLUMNS, _united(joined)))
        for stamp, change, ids in chunk:
            if change == "exited":
                LEAD_TABLES.remove(conn, stamp, _id_list(project.id, ids, dialect))
    entered = sum(len(ids) for _, change, ids in parts if change == "entered")
    exited = sum(len(ids) for _, change, ids in parts if change == "exited")
    return Changes(entered, exited)


UNION_PARTS = 200  # selects united in one statement: SQLite allows 500 by default


def _chunks_of(parts: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(parts), size):
        yield parts[start : start + size]


def _united(selects: list[sa.Select[Any]]) -> sa.Select[Any] | sa.CompoundSelect[Any]:
    return selects[0] if len(selects) == 1 else sa.union_all(*selects)


def _insert_history(
    conn: sa.Connection, project: Project, parts: list[tuple[HistoryStamp, str, list[int]]]
) -> None:
    """The history rows of these (stamp, change, ids), and the webhook and campaign-trigger
    queue rows of those listened to (the new rows' ids, in the same transaction)."""
    dialect = conn.dialect.name
    rows = _united(
        [
            LEAD_TABLES.history_rows(stamp, change, _id_list(project.id, ids, dialect))
            for stamp, change, ids in parts
        ]
    )
    insert = membership_history.insert().from_select(HISTORY_COLUMNS, rows)
    heard = [
        (stamp, change) for stamp, change, _ in parts if stamp.hooks.wants(stamp.segment_id, change)
    ]
    if not heard:
        conn.execute(insert)
        return
    h = membership_history.c
    new = conn.execute(insert.returning(h.id, h.segment_id, h.change)).all()
    wanted = {(stamp.segment_id, change) for stamp, change in heard}
    queued = [(r.id, r.segment_id, r.change) for r in new if (r.segment_id, r.change) in wanted]
    stamp = heard[0][0]  # one pass: every stamp has the same moment and listeners
    webhooks.queue(conn, project.id, stamp.hooks, queued, stamp.at)


def _lock_all(conn: sa.Connection, project: Project, segment_ids: set[int]) -> list[SegmentRow]:
    query = (
        sa.select(segments)
        .where(segments.c.project_id == project.id, segments.c.id.in_(sorted(segment_ids)))
        .order_by(segments.c.id)  # the order every kind of work locks segments in
        .with_for_update()
    )
    return [SegmentRow.of(row) for row in conn.execute(query)]


def _matching_each(
    conn: sa.Connection,
    project: Project,
    rows: dict[int, SegmentRow],
    ids: list[int],
    now: datetime,
) -> dict[int, set[int]]:
    """For each segment, which of `ids` its filter matches now: one statement, a column each."""
    order = sorted(rows)
    kinds = filtering.manual_kinds_of(conn, project, order)  # one query for all of them
    trees = {i: filtering.segment_tree(conn, project, i, rows[i].filter, kinds[i]) for i in order}
    if len(ids) <= INDEX_LEAD_BATCH:  # see _matching_indexed: why the index's snapshot is right
        indexed = answering.matching_among(conn, project, trees, ids, now)
        if indexed is not None:
            return indexed.value
    columns = [
        sa.func.coalesce(
            filtering.condition(conn, project, trees[i], now, ids),
            sa.false(),
            type_=sa.Boolean,
        )
        for i in order
    ]
    query = sa.select(leads.c.id, *columns).where(
        leads.c.project_id == project.id, one_of(leads.c.id, ids, conn.dialect.name)
    )
    found: dict[int, set[int]] = {i: set() for i in order}
    for row in conn.execute(query):
        for segment_id, matches in zip(order, row[1:], strict=True):
            if matches:
                found[segment_id].add(row[0])
    return found


def _members_each(
    conn: sa.Connection, project: Project, segment_ids: list[int], ids: list[int]
) -> dict[int, set[int]]:
    query = sa.select(segment_members.c.segment_id, segment_members.c.lead_id).where(
        segment_members.c.project_id == project.id,
        segment_members.c.segment_id.in_(segment_ids),
        one_of(segment_members.c.lead_id, ids, conn.dialect.name),
    )
    found: dict[int, set[int]] = {i: set() for i in segment_ids}
    for segment_id, lead_id in conn.execute(query):
        found[segment_id].add(lead_id)
    return found


def differences(
    conn: sa.Connection, matching: sa.Select[Any], members: sa.Select[Any]
) -> tuple[list[int], list[int]]:
    """(entering, leaving) in one statement, so the filter is evaluated once, not twice."""
    now_in, stored = matching.cte("now_in"), members.cte("stored")
    entering = sa.except_(sa.select(now_in.c[0]), sa.select(stored.c[0])).subquery()
    leaving = sa.except_(sa.select(stored.c[0]), sa.select(now_in.c[0])).subquery()
    both = sa.union_all(
        sa.select(entering.c[0], sa.literal(True, sa.Boolean)),
        sa.select(leaving.c[0], sa.literal(False, sa.Boolean)),
    )
    found: tuple[list[int], list[int]] = ([], [])
    for lead_id, enters in conn.execute(both):
        found[0 if enters else 1].append(lead_id)
    return found


def _id_list(project_id: int, ids: Sequence[int], dialect_name: str) -> sa.Select[Any]:
    return LEAD_TABLES.id_list(project_id, ids, dialect_name)


@dataclass(frozen=True)
class HistoryStamp:
    """What every history row of one sync says besides its member and direction."""

    project_id: int
    segment_id: int
    version: int
    at: datetime
    reason: str
    detail: str | None
    hooks: webhooks.Listeners  # the webhooks each change is queued for


@dataclass(frozen=True)
class MemberTables:
    """Where a segment's maintained members and their history are kept: leads' (here) or
    accounts' (engine/account_membership.py), told apart by the member column's name."""

    members: sa.Table
    history: sa.Table
    member: str  # "lead_id" | "account_id"
    subjects: sa.Table  # leads | accounts: where a member's id is re-read before it is written

    def id_list(self, project_id: int, ids: Sequence[int], dialect_name: str) -> sa.Select[Any]:
        """Ids re-read through the subjects' table, so one deleted meanwhile is neither entered
        nor left."""
        subjects = self.subjects
        return sa.select(subjects.c.id).where(
            subjects.c.project_id == project_id, one_of(subjects.c.id, ids, dialect_name)
        )

    def moves(
        self,
        conn: sa.Connection,
        project: Project,
        matching: sa.Select[Any],
        members: sa.Select[Any],
        by_lists: bool,
    ) -> tuple[MemberIds, MemberIds]:
        """The ids that enter (matching, not members) and those that leave, as two queries:
        set-wise (EXCEPT rather than NOT IN, which PostgreSQL cannot turn into an anti-join),
        or, `by_lists`, evaluated once here and handed on as id lists (a partial sync, or
        `matching` already a list: it would otherwise be read twice)."""
        if not by_lists:
            return sa.except_(matching, members), sa.except_(members, matching)
        entering, leaving = differences(conn, matching, members)
        dialect = conn.dialect.name
        return (
            self.id_list(project.id, entering, dialect),
            self.id_list(project.id, leaving, dialect),
        )

    def history_columns(self) -> list[str]:
        return [
            "project_id",
            "segment_id",
            self.member,
            "change",
            "at",
            "segment_version",
            "reason",
            "detail",
        ]

    def history_rows(self, stamp: HistoryStamp, change: str, ids: MemberIds) -> sa.Select[Any]:
        """One history row per id of `ids` (a one-column query), stamped."""
        source = ids.subquery()
        return sa.select(
            sa.literal(stamp.project_id, sa.BigInteger),
            sa.literal(stamp.segment_id, sa.BigInteger),
            source.c[0],
            sa.literal(change, sa.String),
            sa.literal(stamp.at, sa.DateTime(timezone=True)),
            sa.literal(stamp.version, sa.Integer),
            sa.literal(stamp.reason, sa.String),
            sa.literal(stamp.detail, sa.String),
        )

    def history_insert(self, stamp: HistoryStamp, change: str, ids: MemberIds) -> sa.Insert:
        """One history row per id of `ids`, set-wise."""
        rows = self.history_rows(stamp, change, ids)
        return self.history.insert().from_select(self.history_columns(), rows)

    def member_rows(self, stamp: HistoryStamp, ids: MemberIds) -> sa.Select[Any]:
        source = ids.subquery()
        return sa.select(
            sa.literal(stamp.project_id, sa.BigInteger),
            sa.literal(stamp.segment_id, sa.BigInteger),
            source.c[0],
            sa.literal(stamp.at, sa.DateTime(timezone=True)),
        )

    def member_columns(self) -> list[str]:
        return ["project_id", "segment_id", self.member, "entered_at"]

    def add(self, conn: sa.Connection, stamp: HistoryStamp, ids: MemberIds) -> None:
        rows = self.member_rows(stamp, ids)
        conn.execute(self.members.insert().from_select(self.member_columns(), rows))

    def remove(self, conn: sa.Connection, stamp: HistoryStamp, ids: MemberIds) -> None:
        gone = sa.select(ids.subquery().c[0])
        conn.execute(
            self.members.delete().where(
                self.members.c.project_id == stamp.project_id,
                self.members.c.segment_id == stamp.segment_id,
                self.members.c[self.member].in_(gone),
            )
        )


LEAD_TABLES = MemberTables(segment_members, membership_history, "lead_id", leads)
HISTORY_COLUMNS = LEAD_TABLES.history_columns()
MEMBER_COLUMNS = LEAD_TABLES.member_columns()


def _record(conn: sa.Connection, stamp: HistoryStamp, change: str, ids: LeadIds) -> int:
    insert = LEAD_TABLES.history_insert(stamp, change, ids)
    if stamp.hooks.wants(
        stamp.segment_id, change
    ):  # the webhooks need the new rows' ids: queue them in this same transaction
        new_ids = list(conn.execute(insert.returning(membership_history.c.id)).scalars())
        webhooks.queue(
            conn,
            stamp.project_id,
            stamp.hooks,
            ((history_id, stamp.segment_id, change) for history_id in new_ids),
            stamp.at,
        )
        return len(new_ids)
    # SQLAlchemy reports an INSERT's row count only when asked to preserve it.
    result = conn.execute(insert, execution_options={"preserve_rowcount": True})
    return max(int(result.rowcount or 0), 0)


def active_read_sets(conn: sa.Connection, project: Project) -> dict[int, ReadSet]:
    """Each active segment's read set (one query for all the project's segments)."""
    rows = conn.execute(
        sa.select(segments.c.id, segments.c.filter, segments.c.active).where(
            segments.c.project_id == project.id, segments.c.audience == "leads"
        )
    ).all()
    trees: dict[int, Node] = {}
    for row in rows:
        try:
            trees[row.id] = filtering.load(project, row.filter)
        except Exception:
            continue

    def stored(segment_id: int) -> Node | None:
        return trees.get(segment_id)

    return {
        row.id: read_set(trees[row.id], stored) for row in rows if row.active and row.id in trees
    }


def member_ids(conn: sa.Connection, project: Project, segment_id: int) -> set[int]:
    return set(
        conn.execute(
            sa.select(segment_members.c.lead_id).where(
                segment_members.c.project_id == project.id,
                segment_members.c.segment_id == segment_id,
            )
        ).scalars()
    )


def record_deletion(
    conn: sa.Connection, project: Project, lead_ids: Sequence[int], now: datetime
) -> None:
    """Leads about to be deleted leave every segment they are in, and history keeps that: frozen
    (inactive) segments too, whose stored members lose the lead with it, or their history
    would no longer replay to their membership."""
    rows = (
        sa.select(
            segment_members.c.project_id,
            segment_members.c.segment_id,
            segment_members.c.lead_id,
            sa.literal("exited", sa.String),
            sa.literal(now, sa.DateTime(timezone=True)),
            segments.c.version,
            sa.literal(Reason.LEAD_WRITE, sa.String),
            sa.literal("lead deleted", sa.String),
        )
        .join(
            segments,
            sa.and_(
                segments.c.project_id == segment_members.c.project_id,
                segments.c.id == segment_members.c.segment_id,
            ),
        )
        .where(
            segment_members.c.project_id == project.id,
            segment_members.c.lead_id.in_(lead_ids),
        )
    )
    insert = membership_history.insert().from_select(HISTORY_COLUMNS, rows)
    hooks = webhooks.listeners(conn, project.id)
    if not hooks:
        conn.execute(insert)
        return
    returned = conn.execute(
        insert.returning(membership_history.c.id, membership_history.c.segment_id)
    )
    webhooks.queue(conn, project.id, hooks, ((h, s, "exited") for h, s in returned), now)
