"""Membership maintenance rules: what one outbox item means for the maintained memberships
of a project's active segments (a segment edited, leads written, list members changed), and
what follows a scoring change. The worker decides when and in which transaction; these decide
what changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.clock import Clock
from segmint.engine import account_levels, account_membership, bulk, fit, membership, outbox
from segmint.engine.dependencies import ReadSet
from segmint.engine.membership import Changes, Reason
from segmint.projects import Project
from segmint.store.db import one_of
from segmint.store.tables import leads


def apply(conn: sa.Connection, project: Project, item: outbox.WorkItem, clock: Clock) -> Changes:
    """What an outbox item means for the maintained memberships."""
    now = clock.now()
    payload = item.payload
    if item.kind == outbox.Kind.BULK:  # a batch of writes, whose own items follow it
        bulk.run_batch(conn, project, payload["bulk_action_id"], now)
        return Changes()
    read_sets = membership.active_read_sets(conn, project)
    if item.kind == outbox.Kind.SEGMENT:
        segment_id = payload["segment_id"]
        dependents = sorted(d for d, reads in read_sets.items() if segment_id in reads.segments)
        # Every segment this item syncs is locked up front in id order, the order lead-write
        # syncs take them in: two workers never wait on each other's locks in a cycle.
        membership.lock_segments(conn, project, [segment_id, *dependents])
        changes = membership.sync(conn, project, segment_id, now, payload["reason"])
        # An account segment's own full sync (a lead segment's is the line above).
        account_sync = account_membership.sync(conn, project, segment_id, now, payload["reason"])
        changes += account_sync.changes
        for dependent in dependents:
            changes += membership.sync(
                conn, project, dependent, now, Reason.DEPENDENCY, f"segment {segment_id}"
            )
        return changes
    if item.kind == outbox.Kind.LEADS:
        return apply_lead_writes(conn, project, [item], now, read_sets)
    if item.kind == outbox.Kind.ACCOUNTS:
        return _apply_accounts(conn, project, item, now, read_sets)
    if item.kind == outbox.Kind.MANUAL:
        return _apply_manual(conn, project, item, now, read_sets)
    if item.kind != outbox.Kind.LIST:
        raise ValueError(f"unknown work item kind {item.kind!r}")
    touched = sorted(s for s, reads in read_sets.items() if payload["list_id"] in reads.lists)
    superseded = outbox.segments_awaiting_sync(conn, project.id, item.id)
    changes = Changes()
    for segment_id in (s for s in touched if s not in superseded):
        changes += membership.sync(
            conn,
            project,
            segment_id,
            now,
            Reason.DEPENDENCY,
            f"list {payload['list_id']}",
            payload.get("lead_ids"),
        )
    return changes


def _apply_accounts(
    conn: sa.Connection,
    project: Project,
    item: outbox.WorkItem,
    now: datetime,
    read_sets: dict[int, ReadSet],
) -> Changes:
    """Accounts written, or left by a lead (moved, deleted): re-evaluated in every active
    account segment (the item's reason), then the lead segments reaching those segments follow
    the accounts that entered or left (`follow_accounts`)."""
    payload = item.payload
    superseded = outbox.segments_awaiting_sync(conn, project.id, item.id)
    account_wide = [d for d, reads in read_sets.items() if reads.account_wide]
    # Every segment this may sync, locked up front in id order, as other kinds of work do.
    membership.lock_segments(
        conn, project, [*account_membership.active_segment_ids(conn, project), *account_wide]
    )
    moved = account_membership.sync_accounts(
        conn,
        project,
        payload["account_ids"],
        now,
        payload["reason"],
        payload.get("detail"),
        skip=superseded,
    )
    return moved.changes + follow_accounts(conn, project, moved, now, read_sets, superseded)


def follow_accounts(
    conn: sa.Connection,
    project: Project,
    moved: account_membership.Moved,
    now: datetime,
    read_sets: dict[int, ReadSet],
    skip: Collection[int] = (),
) -> Changes:
    """Lead segments reaching an account segment (`in_account_segment`) follow its maintained
    changes: the leads of each account that entered or left it are re-evaluated there (reason
    `dependency`), the gap a lead's own item cannot close (a lead that left the account, a
    deleted lead, time passing)."""
    syncs: list[membership.PartialSync] = []
    for account_segment_id, account_ids in sorted(moved.by_segment().items()):
        dependents = sorted(
            d for d, reads in read_sets.items() if account_segment_id in reads.segments
        )
        dependents = [d for d in dependents if d not in skip]
        if not dependents:
            continue
        lead_ids = frozenset(_leads_of(conn, project, account_ids))
        detail = f"account segment {account_segment_id}"
        syncs += [
            membership.PartialSync(d, Reason.DEPENDENCY, detail, lead_ids) for d in dependents
        ]
    return membership.sync_leads(conn, project, syncs, now) if syncs else Changes()


def _leads_of(conn: sa.Connection, project: Project, account_ids: Collection[int]) -> list[int]:
    query = sa.select(leads.c.id).where(
        leads.c.project_id == project.id,
        one_of(leads.c.account_id, sorted(account_ids), conn.dialect.name),
    )
    return list(conn.execute(query).scalars())


def _apply_manual(
    conn: sa.Connection,
    project: Project,
    item: outbox.WorkItem,
    now: datetime,
    read_sets: dict[int, ReadSet],
) -> Changes:
    """A segment's manual includes or excludes changed for these leads: the segment itself
    re-evaluates them (reason `manual`; an inactive one was changed by the request already,
    see engine/manual.py, and `sync` leaves it), then every segment that reads it through
    `in_segment` (reason `dependency`)."""
    payload = item.payload
    segment_id = payload["segment_id"]
    lead_ids = payload["lead_ids"]
    dependents = sorted(d for d, reads in read_sets.items() if segment_id in reads.segments)
    superseded = outbox.segments_awaiting_sync(conn, project.id, item.id)
    membership.lock_segments(conn, project, [segment_id, *dependents])
    changes = Changes()
    if segment_id not in superseded:
        changes += membership.sync(
            conn, project, segment_id, now, Reason.MANUAL, payload.get("detail"), lead_ids
        )
    for dependent in (d for d in dependents if d not in superseded):
        changes += membership.sync(
            conn, project, dependent, now, Reason.DEPENDENCY, f"segment {segment_id}", lead_ids
        )
    return changes


def _widen_to_accounts(
    conn: sa.Connection,
    project: Project,
    work: dict[tuple[int, str, str | None], set[int]],
    read_sets: dict[int, ReadSet],
) -> None:
    """For segments reaching an account segment, the written leads' fellow leads of the same
    accounts too (one query per segment and reason): a write of one lead can move its account
    in or out of the account segment, and with it every lead of the account."""
    for (segment_id, _reason, _detail), lead_ids in work.items():
        if not read_sets[segment_id].account_wide or not lead_ids:
            continue
        written = sa.select(leads.c.account_id).where(
            leads.c.project_id == project.id,
            leads.c.id.in_(sorted(lead_ids)),
            leads.c.account_id.is_not(None),
        )
        fellows = conn.execute(
            sa.select(leads.c.id).where(
                leads.c.project_id == project.id, leads.c.account_id.in_(written)
            )
        ).scalars()
        lead_ids.update(fellows)


def _account_work(items: list[outbox.WorkItem]) -> list[account_membership.LeadWork]:
    """The written leads by reason, as lead segments' syncs group them: their accounts are
    re-evaluated in the account segments (any lead write may move an account's `leads`
    counts; account trees have no read sets to narrow this by)."""
    grouped: dict[tuple[str, str | None], set[int]] = defaultdict(set)
    for item in items:
        event_types = sorted(set(item.payload["event_types"]))
        reason = Reason.EVENT if event_types else Reason.LEAD_WRITE
        grouped[(reason, ", ".join(event_types) or None)].update(item.payload["lead_ids"])
    return [
        account_membership.LeadWork(reason, detail, frozenset(ids))
        for (reason, detail), ids in grouped.items()
    ]


def apply_lead_writes(
    conn: sa.Connection,
    project: Project,
    items: list[outbox.WorkItem],
    now: datetime,
    read_sets: dict[int, ReadSet] | None = None,
) -> Changes:
    """Re-evaluate the written leads in the segments whose read sets the writes touched, one
    sync per segment and reason for all the items' leads."""
    if read_sets is None:
        read_sets = membership.active_read_sets(conn, project)
    # A segment created or edited after these writes gets a full sync of its own, later.
    superseded = outbox.segments_awaiting_sync(conn, project.id, min(i.id for i in items))
    work: dict[tuple[int, str, str | None], set[int]] = defaultdict(set)
    for item in items:
        payload = item.payload
        columns = None if payload["columns"] is None else set(payload["columns"])
        event_types = set(payload["event_types"])
        reason = Reason.EVENT if event_types else Reason.LEAD_WRITE
        detail = ", ".join(sorted(event_types)) or None
        for segment_id, reads in read_sets.items():
            if segment_id not in superseded and reads.touched_by(columns, event_types):
                work[(segment_id, reason, detail)].update(payload["lead_ids"])
    _widen_to_accounts(conn, project, work, read_sets)
    syncs = [
        membership.PartialSync(segment_id, reason, detail, frozenset(lead_ids))
        for (segment_id, reason, detail), lead_ids in work.items()
    ]
    account_segments = account_membership.active_segment_ids(conn, project)
    if account_segments:  # the lead and account segments' locks in one id order, as elsewhere
        membership.lock_segments(conn, project, [*(s.segment_id for s in syncs), *account_segments])
    changes = membership.sync_leads(conn, project, syncs, now)
    # (Lead segments reaching these account segments were widened to the accounts' leads
    # above already: `_widen_to_accounts`.)
    changes += account_membership.follow_lead_writes(
        conn, project, _account_work(items), now, skip=superseded
    ).changes
    # Profile fit follows what was written (not its own writes of profile_level: no loop).
    written = {
        lead_id
        for item in items
        if item.payload["columns"] is None or set(item.payload["columns"]) - set(fit.FIT_COLUMNS)
        for lead_id in item.payload["lead_ids"]
    }
    fit.refit(conn, project, written, now)
    # Accounts roll up their leads' scores and fit: refreshed when those (or the account) moved.
    rolled = {
        lead_id
        for item in items
        if item.payload["columns"] is None
        or set(item.payload["columns"]) & account_levels.ROLLED_UP
        for lead_id in item.payload["lead_ids"]
    }
    account_levels.refresh(conn, project, rolled, now)
    return changes


def after_scoring_change(engine: Engine, project: Project, now: datetime) -> int:
    """Rules, bands or rollup changed: after every lead's score, every lead's fit and every
    account's levels."""
    return fit.refit_all(engine, project, now) + account_levels.refresh_all(engine, project, now)
