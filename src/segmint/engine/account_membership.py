"""Maintained membership of active account segments and its append-only history.

The account twin of engine/membership.py: `sync` compares the live evaluation of an account
segment (account_segments.condition, for every account or only some) with its stored members
in `account_segment_members` and applies the difference set-wise, one history row per account
that entered or left (`account_membership_history`), webhooks queued in the same transaction.

What re-evaluates which accounts (engine/maintenance.py decides when):
- the segment created, edited or activated: every account (a full sync, like a lead segment's);
- an account written (created, its fields or metadata): that account;
- a lead written, given an event, moved out of an account or deleted: the accounts it is in
  now and the account it left (the write records the latter: `outbox.accounts_written`);
- time passing: the time sweep runs a full sync (account trees have no flip instants of
  their own, and accounts are few beside leads).
The columnar index answers lead trees only, so every evaluation here is SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from segmint.engine import account_segments, membership, webhooks
from segmint.engine.membership import Changes, HistoryStamp, MemberTables, Reason
from segmint.filters.tree import ACCOUNTS
from segmint.projects import Project
from segmint.store.db import one_of
from segmint.store.rows import SegmentRow
from segmint.store.tables import (
    account_membership_history,
    account_segment_members,
    accounts,
    leads,
    segments,
)

AccountIds = sa.Select[Any] | sa.CompoundSelect[Any]  # a query of account ids, one column


@dataclass(frozen=True)
class Moved:
    """What syncs of account segments changed: the counts, and per segment the accounts that
    entered or left it (lead segments reaching it through `in_account_segment` follow them)."""

    changes: Changes = field(default_factory=Changes)
    accounts: tuple[tuple[int, frozenset[int]], ...] = ()

    def __add__(self, other: Moved) -> Moved:
        return Moved(self.changes + other.changes, self.accounts + other.accounts)

    def by_segment(self) -> dict[int, set[int]]:
        found: dict[int, set[int]] = {}
        for segment_id, account_ids in self.accounts:
            found.setdefault(segment_id, set()).update(account_ids)
        return found


TABLES = MemberTables(account_segment_members, account_membership_history, "account_id", accounts)


def active_segment_ids(conn: sa.Connection, project: Project) -> list[int]:
    """The project's active account segments, in id order (the order syncs lock them in)."""
    return list(
        conn.execute(
            sa.select(segments.c.id)
            .where(
                segments.c.project_id == project.id,
                segments.c.audience == ACCOUNTS,
                segments.c.active.is_(True),
            )
            .order_by(segments.c.id)
        ).scalars()
    )


def sync(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    now: datetime,
    reason: str,
    detail: str | None = None,
    account_ids: Iterable[int] | None = None,
) -> Moved:
    """Bring an active account segment's stored members in line with its filter at `now` (for
    `account_ids` only, if given). Lead segments, inactive (frozen) and missing segments are
    left as they are."""
    row = membership.lock_segment(conn, project, segment_id)
    if row is None or not row.active or row.audience != ACCOUNTS:
        return Moved()
    return _sync_row(conn, project, row, now, reason, detail, account_ids)


def refresh_frozen(
    conn: sa.Connection, project: Project, segment_id: int, now: datetime
) -> Changes | None:
    """Recompute an inactive account segment's stored members once, from its filter at `now`
    (history rows, webhooks), and stamp `last_evaluated_at`; it stays inactive. None when the
    segment is missing, active or a lead segment (membership.refresh_frozen's twin)."""
    row = membership.lock_segment(conn, project, segment_id)
    if row is None or row.active or row.audience != ACCOUNTS:
        return None
    moved = _sync_row(conn, project, row, now, Reason.REFRESH, None, None)
    membership.mark_evaluated(conn, project, segment_id, now)
    return moved.changes


def _sync_row(
    conn: sa.Connection,
    project: Project,
    row: SegmentRow,
    now: datetime,
    reason: str,
    detail: str | None,
    account_ids: Iterable[int] | None,
) -> Moved:
    """The sync itself, for an account segment row already locked (whatever its state)."""
    segment_id = row.id
    ids = None if account_ids is None else sorted(set(account_ids))
    if ids == []:
        return Moved()
    dialect = conn.dialect.name
    tree = account_segments.tree_of(project, row)
    matching = sa.select(accounts.c.id).where(account_segments.condition(conn, project, tree, now))
    members = sa.select(account_segment_members.c.account_id).where(
        account_segment_members.c.project_id == project.id,
        account_segment_members.c.segment_id == segment_id,
    )
    if ids is not None:
        matching = matching.where(one_of(accounts.c.id, ids, dialect))
        members = members.where(one_of(account_segment_members.c.account_id, ids, dialect))
    stamp = HistoryStamp(
        project.id,
        segment_id,
        row.version,
        now,
        reason,
        detail,
        webhooks.listeners(conn, project.id),
    )
    entered_ids, exited_ids = TABLES.moves(conn, project, matching, members, ids is not None)
    moved = _write(conn, stamp, entered_ids, exited_ids)
    if ids is None:  # every account is right as of `now`: the next sweep goes on from here
        membership.mark_synced(conn, project, segment_id, now)
    return moved


def sync_accounts(
    conn: sa.Connection,
    project: Project,
    account_ids: Iterable[int],
    now: datetime,
    reason: str,
    detail: str | None = None,
    skip: Iterable[int] = (),
) -> Moved:
    """These accounts re-evaluated in every active account segment (but those in `skip`,
    whose full sync is queued already)."""
    ids = sorted(set(account_ids))
    if not ids:
        return Moved()
    skipped = set(skip)
    moved = Moved()
    for segment_id in active_segment_ids(conn, project):
        if segment_id not in skipped:
            moved += sync(conn, project, segment_id, now, reason, detail, ids)
    return moved


def accounts_of(conn: sa.Connection, project: Project, lead_ids: Sequence[int]) -> list[int]:
    """The accounts these leads are in now (one query)."""
    if not lead_ids:
        return []
    return sorted(
        set(
            conn.execute(
                sa.select(leads.c.account_id).where(
                    leads.c.project_id == project.id,
                    one_of(leads.c.id, lead_ids, conn.dialect.name),
                    leads.c.account_id.is_not(None),
                )
            ).scalars()
        )
    )


@dataclass(frozen=True)
class LeadWork:
    """Leads written for one reason: their accounts are re-evaluated for it."""

    reason: str
    detail: str | None
    lead_ids: frozenset[int]


def follow_lead_writes(
    conn: sa.Connection,
    project: Project,
    work: Sequence[LeadWork],
    now: datetime,
    skip: Iterable[int] = (),
) -> Moved:
    """Leads were written or given events: their accounts' `leads` counts, and so their
    membership, may have moved. Without an active account segment this is one query."""
    if not work or not active_segment_ids(conn, project):
        return Moved()
    moved = Moved()
    for job in work:
        account_ids = accounts_of(conn, project, sorted(job.lead_ids))
        moved += sync_accounts(conn, project, account_ids, now, job.reason, job.detail, skip)
    return moved


def member_ids(conn: sa.Connection, project: Project, segment_id: int) -> set[int]:
    return set(
        conn.execute(
            sa.select(account_segment_members.c.account_id).where(
                account_segment_members.c.project_id == project.id,
                account_segment_members.c.segment_id == segment_id,
            )
        ).scalars()
    )


# -- writing -------------------------------------------------------------------------------------


def _write(
    conn: sa.Connection, stamp: HistoryStamp, entered_ids: AccountIds, exited_ids: AccountIds
) -> Moved:
    """History rows, then the stored members, for the accounts that entered and those that left."""
    entered = _record(conn, stamp, "entered", entered_ids)
    if entered:
        TABLES.add(conn, stamp, entered_ids)
    exited = _record(conn, stamp, "exited", exited_ids)
    if exited:
        TABLES.remove(conn, stamp, exited_ids)
    changes = Changes(len(entered), len(exited))
    accounts_moved = frozenset(entered) | frozenset(exited)
    return Moved(changes, ((stamp.segment_id, accounts_moved),) if accounts_moved else ())


def _record(conn: sa.Connection, stamp: HistoryStamp, change: str, ids: AccountIds) -> list[int]:
    """The history rows of one direction; returns the accounts recorded (RETURNING: accounts
    are few, and lead segments reaching this one follow exactly these)."""
    h = account_membership_history.c
    insert = TABLES.history_insert(stamp, change, ids)
    recorded = conn.execute(insert.returning(h.id, h.account_id)).all()
    if stamp.hooks.of(stamp.segment_id, change):  # queued in the history's own transaction
        webhooks.queue_accounts(
            conn,
            stamp.project_id,
            stamp.hooks,
            ((history_id, stamp.segment_id, change) for history_id, _ in recorded),
            stamp.at,
        )
    return [account_id for _, account_id in recorded]
