"""Triggered sends, read side: each pending send (queued with its entry or exit, see
engine/triggered.py) is decided once it is due, and the sendable ones become recipients of a
triggered run that the sender delivers like any other.

Deciding happens in one transaction per campaign and batch: the sends move `pending` ->
`queued` or `skipped` by a conditional UPDATE (of two workers, one gets each send; a worker
killed before its commit leaves them pending for the next), and the run with its recipients is
inserted in that same transaction. From then on the sender's own rules make delivery exactly
once. A send is checked again when due: the lead still exists, is still in the segment (or still
out of it, for an exit) when the trigger asks, is not unsubscribed, has an address for email,
and the campaign has not reached its cap for the lead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.campaigns.audience import COUNTS_AS_SENT, UNSUBSCRIBED
from segmint.projects import Project, get_project_by_id
from segmint.store.tables import (
    campaign_recipients,
    campaign_runs,
    campaign_trigger_sends,
    campaigns,
    events,
    leads,
    segment_members,
)

BATCH = 200  # sends decided per transaction
SKIP_REASONS = ("lead_deleted", "membership", "unsubscribed", "no_email", "capped")
SEND = "send"


def release_due(engine: Engine, now: datetime, limit: int = 1000) -> int:
    """Decide the sends that are due, campaign by campaign; returns how many were decided."""
    decided = 0
    for project_id, campaign_id in _due_campaigns(engine, now, limit):
        while True:
            with engine.begin() as conn:
                project = get_project_by_id(conn, project_id)
                done = decide_batch(conn, project, campaign_id, now)
            decided += done
            if done < BATCH:
                break
    return decided


def _due_campaigns(engine: Engine, now: datetime, limit: int) -> list[tuple[int, int]]:
    """Live campaigns with sends due, across projects (the worker's scan)."""
    s = campaign_trigger_sends.c
    query = (
        sa.select(s.project_id, s.campaign_id)
        .join(
            campaigns,
            sa.and_(campaigns.c.project_id == s.project_id, campaigns.c.id == s.campaign_id),
        )
        .where(s.state == "pending", s.due_at <= now, campaigns.c.state == "scheduled")
        .group_by(s.project_id, s.campaign_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [(int(p), int(c)) for p, c in conn.execute(query)]


@dataclass(frozen=True)
class _Due:
    id: int
    lead_id: int
    segment_id: int
    change: str


def decide_batch(conn: sa.Connection, project: Project, campaign_id: int, now: datetime) -> int:
    """Decide up to BATCH due sends of a live campaign; returns how many were decided."""
    campaign = conn.execute(
        sa.select(campaigns)
        .where(campaigns.c.project_id == project.id, campaigns.c.id == campaign_id)
        # Serialises this campaign's triggered runs (and their moments). NO KEY UPDATE: the
        # membership writers queueing sends (a foreign key to this row) need not wait for it.
        .with_for_update(key_share=True)
    ).first()
    if campaign is None or campaign.state != "scheduled" or not campaign.trigger:
        return 0
    due = _claim(conn, project, campaign_id, now)
    if not due:
        return 0
    reasons = _reasons(conn, project, campaign, due, now)
    run_id = _insert_run(conn, project, campaign_id, now, reasons)
    _queue_recipients(conn, project, campaign_id, run_id, [d for d in due if reasons[d.id] == SEND])
    for reason in set(reasons.values()):
        ids = [d.id for d in due if reasons[d.id] == reason]
        conn.execute(
            campaign_trigger_sends.update()
            .where(
                campaign_trigger_sends.c.project_id == project.id,
                campaign_trigger_sends.c.id.in_(ids),
            )
            .values(
                state="queued" if reason == SEND else "skipped",
                skip_reason=None if reason == SEND else reason,
                run_id=run_id,
                decided_at=now,
            )
        )
    return len(due)


def _claim(conn: sa.Connection, project: Project, campaign_id: int, now: datetime) -> list[_Due]:
    """The oldest due pending sends, at most one per lead (a lead's second entry waits for the
    next batch: its run may hold the lead once), taken from `pending` so no other worker
    decides them. The claim is the transaction's first write: on SQLite a second worker waits
    here and then finds them taken."""
    s = campaign_trigger_sends.c
    rows = conn.execute(
        sa.select(s.id, s.lead_id, s.segment_id, s.change)
        .where(
            s.project_id == project.id,
            s.campaign_id == campaign_id,
            s.state == "pending",
            s.due_at <= now,
        )
        .order_by(s.due_at, s.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    picked, seen = [], set()
    for row in rows:
        if row.lead_id not in seen:
            seen.add(row.lead_id)
            picked.append(row)
    if not picked:
        return []
    taken = set(
        conn.execute(
            campaign_trigger_sends.update()
            .where(
                s.project_id == project.id,
                s.id.in_([row.id for row in picked]),
                s.state == "pending",
            )
            .values(state="queued", decided_at=now)  # its final state follows in this transaction
            .returning(s.id)
        ).scalars()
    )
    return [_Due(r.id, r.lead_id, r.segment_id, r.change) for r in picked if r.id in taken]


def _reasons(
    conn: sa.Connection, project: Project, campaign: Any, due: list[_Due], now: datetime
) -> dict[int, str]:
    """Each send's fate: SEND or the first skip reason that applies (a handful of queries for
    the whole batch, none per send)."""
    lead_ids = sorted({d.lead_id for d in due})
    emails = _emails(conn, project, lead_ids)
    members = _members(conn, project, {d.segment_id for d in due}, lead_ids)
    unsubscribed = _unsubscribed(conn, project, lead_ids)
    cap = campaign.trigger.get("cap")
    recent = _recent_sends(conn, project, campaign.id, lead_ids, cap, now)
    still = bool(campaign.trigger.get("only_if_still_member", True))
    reasons: dict[int, str] = {}
    for send in due:
        reasons[send.id] = _reason(
            send, emails, members, unsubscribed, recent, cap, still, campaign.channel
        )
        if reasons[send.id] == SEND:
            recent[send.lead_id] += 1
    return reasons


def _reason(
    send: _Due,
    emails: dict[int, str | None],
    members: set[tuple[int, int]],
    unsubscribed: set[int],
    recent: Counter[int],
    cap: dict[str, int] | None,
    still: bool,
    channel: str,
) -> str:
    if send.lead_id not in emails:
        return "lead_deleted"
    inside = (send.segment_id, send.lead_id) in members
    if still and inside != (send.change == "entered"):
        return "membership"
    if send.lead_id in unsubscribed:
        return "unsubscribed"
    if channel == "email" and not emails[send.lead_id]:
        return "no_email"
    if cap is not None and recent[send.lead_id] >= cap["max"]:
        return "capped"
    return SEND


def _emails(conn: sa.Connection, project: Project, lead_ids: list[int]) -> dict[int, str | None]:
    rows = conn.execute(
        sa.select(leads.c.id, leads.c.email).where(
            leads.c.project_id == project.id, leads.c.id.in_(lead_ids)
        )
    )
    return {row.id: row.email for row in rows}


def _members(
    conn: sa.Connection, project: Project, segment_ids: Iterable[int], lead_ids: list[int]
) -> set[tuple[int, int]]:
    m = segment_members.c
    rows = conn.execute(
        sa.select(m.segment_id, m.lead_id).where(
            m.project_id == project.id,
            m.segment_id.in_(sorted(segment_ids)),
            m.lead_id.in_(lead_ids),
        )
    )
    return {(row.segment_id, row.lead_id) for row in rows}


def _unsubscribed(conn: sa.Connection, project: Project, lead_ids: list[int]) -> set[int]:
    rows = conn.execute(
        sa.select(events.c.lead_id)
        .where(
            events.c.project_id == project.id,
            events.c.type == UNSUBSCRIBED,
            events.c.lead_id.in_(lead_ids),
        )
        .distinct()
    )
    return set(rows.scalars())


def _recent_sends(
    conn: sa.Connection,
    project: Project,
    campaign_id: int,
    lead_ids: list[int],
    cap: dict[str, int] | None,
    now: datetime,
) -> Counter[int]:
    """How often the campaign was sent (or is being sent) to each lead in the cap's window:
    its recipient rows in runs frozen since then, triggered or not."""
    counts: Counter[int] = Counter()
    if cap is None:
        return counts
    r, run = campaign_recipients.c, campaign_runs.c
    since = now - timedelta(days=cap["per_days"])
    query = (
        sa.select(r.lead_id, sa.func.count())
        .select_from(
            campaign_recipients.join(
                campaign_runs, sa.and_(run.project_id == r.project_id, run.id == r.run_id)
            )
        )
        .where(
            r.project_id == project.id,
            r.campaign_id == campaign_id,
            r.lead_id.in_(lead_ids),
            r.state.in_(COUNTS_AS_SENT),
            run.frozen_at > since,
        )
        .group_by(r.lead_id)
    )
    counts.update({int(lead_id): int(total) for lead_id, total in conn.execute(query)})
    return counts


def _insert_run(
    conn: sa.Connection, project: Project, campaign_id: int, now: datetime, reasons: dict[int, str]
) -> int:
    """The triggered run that shows this batch with the campaign's runs. Its moment is `now`,
    or just after the campaign's latest run (one run per campaign and moment)."""
    latest = conn.execute(
        sa.select(sa.func.max(campaign_runs.c.scheduled_for)).where(
            campaign_runs.c.project_id == project.id,
            campaign_runs.c.campaign_id == campaign_id,
            campaign_runs.c.scheduled_for >= now,
        )
    ).scalar()
    moment = now if latest is None else latest + timedelta(microseconds=1)
    counts = Counter(reasons.values())
    sending = counts[SEND] > 0
    result = conn.execute(
        campaign_runs.insert()
        .values(
            project_id=project.id,
            campaign_id=campaign_id,
            scheduled_for=moment,
            kind="trigger",
            created_at=now,
            state="sending" if sending else "done",
            frozen_at=now,
            finished_at=None if sending else now,
            audience=len(reasons),
            skipped_already_sent=0,
            skipped_unsubscribed=counts["unsubscribed"],
            skipped_no_email=counts["no_email"],
            skipped_capped=counts["capped"],
            skipped_membership=counts["membership"] + counts["lead_deleted"],
        )
        .returning(campaign_runs.c.id)
    )
    return int(result.scalar_one())


def _queue_recipients(
    conn: sa.Connection, project: Project, campaign_id: int, run_id: int, sendable: list[_Due]
) -> None:
    if not sendable:
        return
    ids = [d.lead_id for d in sendable]
    rows = sa.select(
        sa.literal(project.id),
        sa.literal(campaign_id),
        sa.literal(run_id),
        leads.c.id,
        leads.c.email,
        sa.literal("queued"),
    ).where(leads.c.project_id == project.id, leads.c.id.in_(ids))
    columns = ["project_id", "campaign_id", "run_id", "lead_id", "email", "state"]
    conn.execute(campaign_recipients.insert().from_select(columns, rows))


# -- reading --------------------------------------------------------------------------------------


def pending_counts(
    conn: sa.Connection, project: Project, campaign_ids: list[int]
) -> dict[int, int]:
    """Sends waiting for their moment, per campaign (for the campaign list and page)."""
    if not campaign_ids:
        return {}
    s = campaign_trigger_sends.c
    rows = conn.execute(
        sa.select(s.campaign_id, sa.func.count())
        .where(s.project_id == project.id, s.campaign_id.in_(campaign_ids), s.state == "pending")
        .group_by(s.campaign_id)
    )
    return {int(c): int(n) for c, n in rows}
