"""Time passing: leads enter and leave time-dependent segments with no write at all.

The worker sweeps each active segment every few seconds over the window since its last sweep,
`[time_synced_at, now]`. Only leads with a flip instant in that window are looked at (a range on
the timestamp's index, or on events by type and time), and each change is stamped with the
instant its condition flipped (created_at + 7 days, the moment the third-latest page view left a
30-day window), computed from the lead's data, not the moment the sweep noticed it.

A difference that time does not explain (a write whose outbox item is still queued) is left to
that item. Two flips of one lead inside one window (in and out again within seconds) are not
recorded: membership is right either way, and windows are seconds long while the worker runs.

A sweep is worked out without the segment's lock (`plan`) and applied under it (`settle`), so
the writes' syncs of the segment wait for its writes only, never for its search.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from segmint.clock import as_utc
from segmint.engine import (
    account_membership,
    account_segments,
    answering,
    filtering,
    maintenance,
    membership,
    webhooks,
)
from segmint.engine.dependencies import read_set
from segmint.engine.membership import INDEX_LEAD_BATCH, Changes, Reason, mark_synced
from segmint.filters import flips
from segmint.filters.evaluate import evaluate
from segmint.filters.parse import stored_references
from segmint.filters.source import CachingSegmentSource
from segmint.filters.tree import ACCOUNTS, Node
from segmint.projects import Project
from segmint.store.bulk import insert_rows
from segmint.store.db import one_of
from segmint.store.rows import SegmentRow
from segmint.store.tables import leads, membership_history, segment_members, segments

SWEEP_EVERY = timedelta(seconds=10)
CHUNK = 500  # leads loaded per batch to compute their flip instants


@dataclass(frozen=True)
class Flip:
    lead_id: int
    change: str  # "entered" | "exited"
    at: datetime


def due_segments(conn: sa.Connection, now: datetime) -> list[tuple[int, int]]:
    """(project_id, segment_id) of active segments not swept for SWEEP_EVERY, across projects:
    the worker serves the whole installation, like its outbox. Segments that read another's
    maintained membership (time in segment) come last, so the segments they read have applied
    this round's flips first (what `_follow` hands on then is for leads their own sweep left)."""
    rows = conn.execute(
        sa.select(segments.c.project_id, segments.c.id, segments.c.filter)
        .where(
            segments.c.active.is_(True),
            sa.or_(
                segments.c.time_synced_at.is_(None),
                segments.c.time_synced_at <= now - SWEEP_EVERY,
            ),
        )
        .order_by(segments.c.time_synced_at.is_not(None), segments.c.time_synced_at)
    )
    ordered = sorted(rows, key=lambda row: _reads_membership(row.filter))  # stable: by age
    return [(row.project_id, row.id) for row in ordered]


def _reads_membership(data: Any) -> bool:
    """Whether a stored filter has time in segment anywhere (a key scan, no parsing)."""
    return bool(stored_references(data, "for_at_least_days")) or bool(
        stored_references(data, "entered_within_days")
    )


def _read(conn: sa.Connection, project: Project, segment_id: int) -> SegmentRow | None:
    query = sa.select(segments).where(
        segments.c.project_id == project.id, segments.c.id == segment_id
    )
    row = conn.execute(query).first()
    return None if row is None else SegmentRow.of(row)


def _lock(conn: sa.Connection, project: Project, segment_id: int) -> SegmentRow | None:
    """The segment row, locked on PostgreSQL; None when another worker is sweeping it."""
    query = (
        sa.select(segments)
        .where(segments.c.project_id == project.id, segments.c.id == segment_id)
        .with_for_update(skip_locked=True)
    )
    row = conn.execute(query).first()
    return None if row is None else SegmentRow.of(row)


@dataclass(frozen=True)
class Plan:
    """A segment's sweep worked out without its lock: the window it covers (from the
    `time_synced_at` read) and the flips found in it, with each flipped lead's stored
    membership then."""

    segment_id: int
    start: datetime | None
    version: int
    found: list[Flip]
    was_member: dict[int, bool]


def sweep_segment(conn: sa.Connection, project: Project, segment_id: int, now: datetime) -> Changes:
    """Apply the time-based entries and exits of one segment since its last sweep."""
    planned = plan(conn, project, segment_id, now)
    return Changes() if planned is None else settle(conn, project, planned, now)


def plan(conn: sa.Connection, project: Project, segment_id: int, now: datetime) -> Plan | None:
    """The flips of one segment since its last sweep, found without locking it: at a million
    leads this takes up to a second (seconds through SQL while the index builds), and a lock
    held so long would hold up every write's sync of the segment. `settle` applies what still
    holds under the lock. None: nothing to sweep."""
    row = _read(conn, project, segment_id)
    if row is None or not row.active:
        return None
    start = None if row.time_synced_at is None else as_utc(row.time_synced_at)
    if row.audience == ACCOUNTS or not row.maintained or start is None or start >= now:
        return Plan(segment_id, start, row.version, [], {})
    tree = filtering.segment_tree(conn, project, segment_id, row.filter)
    source = CachingSegmentSource(filtering.StoredSegments(conn, project.id))
    triggers = flips.triggers(tree, project, source)
    narrow = flips.candidates(triggers, project, conn.dialect.name, start, now)
    if narrow is None:
        return Plan(segment_id, start, row.version, [], {})
    was_member = _changed_leads(conn, project, segment_id, tree, narrow, now)
    sweep = _Sweep(project, tree, source, triggers, start, now)
    event_types = _event_types(project, tree, source)
    found = [
        flip
        for chunk in _chunks(sorted(was_member))
        for flip in sweep.flips(conn, chunk, was_member, event_types)
    ]
    flipped = {flip.lead_id: was_member[flip.lead_id] for flip in found}
    return Plan(segment_id, start, row.version, found, flipped)


def settle(conn: sa.Connection, project: Project, planned: Plan, now: datetime) -> Changes:
    """Apply a plan under the segment's lock, unless another sweep or an edit moved the segment
    on meanwhile (the next sweep starts from where it stands). Of the flips, only those of
    leads whose stored membership and current answer are still what the plan implies are
    applied: a lead that a write moved meanwhile is left to that write's sync."""
    row = _lock(conn, project, planned.segment_id)
    if row is None or not row.active or row.version != planned.version:
        return Changes()
    synced = None if row.time_synced_at is None else as_utc(row.time_synced_at)
    if synced != planned.start:
        return Changes()
    if row.audience == ACCOUNTS:
        return _sweep_accounts(conn, project, row, now)
    if not row.maintained:
        return Changes()
    mark_synced(conn, project, row.id, now)
    found = _still_true(conn, project, row, planned, now)
    changes = _apply(conn, project, row.id, row.version, found)
    return changes + _follow(conn, project, row.id, found, now, (row.id,))


def _still_true(
    conn: sa.Connection, project: Project, row: SegmentRow, planned: Plan, now: datetime
) -> list[Flip]:
    """The plan's flips of the leads whose stored membership is still the one the plan started
    from and whose answer at `now` is still the one its last flip leads to."""
    if not planned.found:
        return []
    lead_ids = sorted(planned.was_member)
    stored = membership.member_ids_among(conn, project, row.id, lead_ids)
    matching = membership.matching_now(conn, project, row, lead_ids, now)
    final = {flip.lead_id: flip.change == "entered" for flip in planned.found}
    holding = {
        lead_id
        for lead_id, was in planned.was_member.items()
        if (lead_id in stored) == was and (lead_id in matching) == final[lead_id]
    }
    return [flip for flip in planned.found if flip.lead_id in holding]


def _sweep_accounts(
    conn: sa.Connection, project: Project, row: SegmentRow, now: datetime
) -> Changes:
    """An account tree has no flip instants to narrow a window by: a full sync, stamped with the
    sweep's `now` (accounts are few beside leads; docs/decisions.md), but only for a filter
    that time can move; any other is right as of `now` already, as writes keep it."""
    tree = account_segments.tree_of(project, row)
    source = CachingSegmentSource(filtering.StoredSegments(conn, project.id))
    if not flips.account_tree_moves_with_time(tree, project, source):
        mark_synced(conn, project, row.id, now)
        return Changes()
    moved = account_membership.sync(conn, project, row.id, now, Reason.TIME)
    return moved.changes + _follow_accounts(conn, project, moved, now)


def _follow_accounts(
    conn: sa.Connection, project: Project, moved: account_membership.Moved, now: datetime
) -> Changes:
    """Lead segments reaching the swept account segment follow the accounts time moved."""
    if not moved.accounts:
        return Changes()
    read_sets = membership.active_read_sets(conn, project)
    return maintenance.follow_accounts(conn, project, moved, now, read_sets)


def _follow(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    found: list[Flip],
    now: datetime,
    followed: tuple[int, ...],
) -> Changes:
    """Segments that read this one's maintained membership (time in segment) follow its
    time-based entries and exits at once, each change stamped with the moment of the flip that
    caused it: their own sweeps only see memberships that exist, not ones that just ended."""
    if not found:
        return Changes()
    reads = membership.active_read_sets(conn, project)
    dependents = sorted(d for d, r in reads.items() if segment_id in r.tenure and d not in followed)
    moments = {flip.lead_id: flip.at for flip in sorted(found, key=lambda f: f.at)}
    lead_ids = sorted(moments)
    changes = Changes()
    for dependent in dependents:
        row = _lock(conn, project, dependent)
        if row is None or not row.active:
            continue
        matching = membership.matching_now(conn, project, row, lead_ids, now)
        stored = membership.member_ids_among(conn, project, dependent, lead_ids)
        flipped = [
            Flip(lead_id, "entered" if lead_id in matching else "exited", moments[lead_id])
            for lead_id in lead_ids
            if (lead_id in matching) != (lead_id in stored)
        ]
        changes += _apply(conn, project, dependent, row.version, flipped)
        changes += _follow(conn, project, dependent, flipped, now, (*followed, dependent))
    return changes


def _changed_leads(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    tree: Node,
    narrow: sa.ColumnElement[bool],
    now: datetime,
) -> dict[int, bool]:
    """Leads among the candidates whose stored membership differs from the answer at `now`,
    with whether they were members."""
    candidates = sa.select(leads.c.id).where(leads.c.project_id == project.id, narrow)
    nobody = isinstance(narrow, sa.sql.elements.False_)  # (no candidates: nothing to ask)
    if not nobody and answering.can_answer(conn, project):
        indexed = _changed_indexed(conn, project, segment_id, tree, candidates, now)
        if indexed is not None:
            return indexed
    matching = candidates.where(filtering.condition(conn, project, tree, now))
    members = sa.select(segment_members.c.lead_id).where(
        segment_members.c.project_id == project.id,
        segment_members.c.segment_id == segment_id,
        segment_members.c.lead_id.in_(candidates),
    )
    entering = conn.execute(sa.except_(matching, members)).scalars()
    leaving = conn.execute(sa.except_(members, matching)).scalars()
    return {**dict.fromkeys(entering, False), **dict.fromkeys(leaving, True)}


def _changed_indexed(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    tree: Node,
    candidates: sa.Select[Any],
    now: datetime,
) -> dict[int, bool] | None:
    """`_changed_leads` with the index answering who of the candidates matches (up to
    INDEX_LEAD_BATCH of them; None: ask SQL). The index reads in its own snapshot, taken after
    the segment row was locked: see membership.py, `_matching_indexed`, for why that is right;
    a write it does not see yet is left to its work item, as the module docstring says."""
    found = list(conn.execute(candidates.limit(INDEX_LEAD_BATCH + 1)).scalars())
    if not found or len(found) > INDEX_LEAD_BATCH:
        return {} if not found else None
    indexed = answering.matching_among(conn, project, {segment_id: tree}, found, now)
    if indexed is None:
        return None
    matching = indexed.value[segment_id]
    stored = set(
        conn.execute(
            sa.select(segment_members.c.lead_id).where(
                segment_members.c.project_id == project.id,
                segment_members.c.segment_id == segment_id,
                one_of(segment_members.c.lead_id, found, conn.dialect.name),
            )
        ).scalars()
    )
    return {**dict.fromkeys(matching - stored, False), **dict.fromkeys(stored - matching, True)}


def _event_types(project: Project, tree: Node, source: CachingSegmentSource) -> set[str] | None:
    """The event types the filter reads (None: all of them, as `distinct_events` may)."""

    def stored(segment_id: int) -> Node | None:
        data = source.get_filter(segment_id)
        return None if data is None else filtering.load(project, data)

    reads = read_set(tree, stored)
    return None if reads.any_event_type else reads.event_types


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for offset in range(0, len(ids), CHUNK):
        yield ids[offset : offset + CHUNK]


@dataclass(frozen=True)
class _Sweep:
    project: Project
    tree: Node
    source: CachingSegmentSource
    triggers: list[flips.Trigger]
    start: datetime
    end: datetime

    def flips(
        self,
        conn: sa.Connection,
        lead_ids: Sequence[int],
        was_member: dict[int, bool],
        event_types: set[str] | None,
    ) -> Iterator[Flip]:
        loaded = filtering.load_leads(conn, self.project.id, lead_ids, event_types)
        for lead_id, (lead, lead_events) in loaded.items():
            yield from self._lead_flips(lead_id, lead, lead_events, was_member[lead_id])

    def _lead_flips(
        self, lead_id: int, lead: dict[str, Any], lead_events: list[dict[str, Any]], was: bool
    ) -> list[Flip]:
        """Every change of the lead's answer at its flip instants (the answer differs just
        before and just after, with the lead's current data); none unless time alone explains
        the difference the sweep found (a queued write is left to its outbox item)."""
        instants = flips.flip_instants(
            self.triggers, lead, lead_events, self.project.zone, self.start, self.end
        )
        state, found = was, []
        for instant in instants:
            before, after = (
                self._answer(lead, lead_events, m) for m in flips.around(instant, self.end)
            )
            if before != after and after != state:
                found.append(Flip(lead_id, "entered" if after else "exited", instant))
                state = after
        return found if state != was else []

    def _answer(
        self, lead: dict[str, Any], lead_events: list[dict[str, Any]], at: datetime
    ) -> bool:
        return evaluate(
            self.tree, lead, lead_events, at, project=self.project, segments=self.source
        )


def _apply(
    conn: sa.Connection, project: Project, segment_id: int, version: int, found: list[Flip]
) -> Changes:
    if not found:
        return Changes()
    ordered = sorted(found, key=lambda f: (f.at, f.lead_id))
    rows = [
        {
            "project_id": project.id,
            "segment_id": segment_id,
            "lead_id": flip.lead_id,
            "change": flip.change,
            "at": flip.at,
            "segment_version": version,
            "reason": Reason.TIME,
        }
        for flip in ordered
    ]
    hooks = webhooks.listeners(conn, project.id)
    if hooks:  # the webhooks need the new rows' ids: queue them in this same transaction
        insert = membership_history.insert().returning(
            membership_history.c.id, sort_by_parameter_order=True
        )
        ids = conn.execute(insert, rows).scalars()
        changes = ((h, segment_id, flip.change) for h, flip in zip(ids, ordered, strict=True))
        webhooks.queue(conn, project.id, hooks, changes, max(f.at for f in ordered))
    else:
        conn.execute(membership_history.insert(), rows)
    final = {flip.lead_id: flip for flip in found}  # the last flip of each lead decides
    gone = [lead_id for lead_id, flip in final.items() if flip.change == "exited"]
    if gone:
        conn.execute(
            segment_members.delete().where(
                segment_members.c.project_id == project.id,
                segment_members.c.segment_id == segment_id,
                segment_members.c.lead_id.in_(gone),
            )
        )
    joined = [flip for flip in final.values() if flip.change == "entered"]
    if joined:
        insert_rows(
            conn,
            segment_members,
            [
                {
                    "project_id": project.id,
                    "segment_id": segment_id,
                    "lead_id": flip.lead_id,
                    "entered_at": flip.at,
                }
                for flip in joined
            ],
        )
    entered = sum(flip.change == "entered" for flip in found)
    return Changes(entered, len(found) - entered)
