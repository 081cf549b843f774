"""Runs: at each scheduled moment (or on demand) a campaign's audience is evaluated and frozen
as the run's recipient list, minus leads already sent by the campaign and unsubscribed leads.

A run is created `pending` (by the scheduler, the API or the CLI) and frozen by the sender that
claims it: `sending`, with one `queued` recipient row per lead, counts of who was skipped and
why, in one transaction. Freezes of one campaign are serialised (its row is locked), so two runs
can never both pick a lead that the policy allows only once. A campaign with a problem (a
targeted segment deleted or inactive, mail not configured) gets a run in state `error` that
names it, and sends nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.campaigns import audience, mail_settings
from segmint.campaigns.definitions import Resend, Targeting, get_campaign, schedule_of
from segmint.clock import as_utc
from segmint.errors import Conflict, NotFound
from segmint.projects import Project, get_project_by_id
from segmint.store.rows import CampaignRunRow
from segmint.store.tables import campaign_recipients, campaign_runs, campaigns, leads

RECIPIENT_STATES = ("queued", "sending", "sent", "failed", "unconfirmed")
MAX_PAGE = 500


def create_run(
    conn: sa.Connection,
    project: Project,
    campaign_id: int,
    now: datetime,
    created_by: int | None = None,
) -> int:
    """A run on demand, frozen by the next sender to claim it."""
    campaign = get_campaign(conn, project, campaign_id)
    if campaign.state == "paused":
        raise Conflict("the campaign is paused: resume it first", "state")
    return _insert_run(conn, project, campaign_id, now, "manual", created_by, now)


def _insert_run(
    conn: sa.Connection,
    project: Project,
    campaign_id: int,
    scheduled_for: datetime,
    kind: str,
    created_by: int | None,
    now: datetime,
) -> int:
    result = conn.execute(
        campaign_runs.insert()
        .values(
            project_id=project.id,
            campaign_id=campaign_id,
            scheduled_for=scheduled_for,
            kind=kind,
            created_by=created_by,
            created_at=now,
            state="pending",
        )
        .returning(campaign_runs.c.id)
    )
    return int(result.scalar_one())


def schedule_due(engine: Engine, now: datetime) -> int:
    """Create the runs whose moment has come, across projects; returns how many. A campaign
    that was due several times while no worker ran gets one run, not one per missed moment.
    Two workers never both create a moment's run: each moves `next_run_at` on only if it still
    holds the value it read."""
    with engine.connect() as conn:
        due = list(
            conn.execute(
                sa.select(campaigns.c.project_id, campaigns.c.id, campaigns.c.next_run_at)
                .where(campaigns.c.state == "scheduled", campaigns.c.next_run_at <= now)
                .order_by(campaigns.c.next_run_at)
            )
        )
    created = 0
    for project_id, campaign_id, moment in due:
        with engine.begin() as conn:
            row = conn.execute(
                sa.select(campaigns).where(
                    campaigns.c.project_id == project_id, campaigns.c.id == campaign_id
                )
            ).first()
            if row is None:
                continue
            schedule = schedule_of(row)
            due_at = as_utc(moment)
            following = schedule.next_after(max(now, due_at)) if schedule.kind == "cron" else None
            moved = conn.execute(
                campaigns.update()
                .where(
                    campaigns.c.project_id == project_id,
                    campaigns.c.id == campaign_id,
                    campaigns.c.state == "scheduled",
                    campaigns.c.next_run_at == moment,
                )
                .values(
                    next_run_at=following,
                    state="scheduled" if schedule.kind == "cron" else "finished",
                    updated_at=now,
                )
            )
            if moved.rowcount != 1:
                continue  # another worker took this moment
            project = get_project_by_id(conn, project_id)
            _insert_run(conn, project, campaign_id, due_at, "schedule", None, now)
            created += 1
    return created


def freeze(conn: sa.Connection, project: Project, run: CampaignRunRow, now: datetime) -> str:
    """Evaluate the audience of a pending run and store it as the recipient list; returns the
    run's new state (`sending`, or `error` when the campaign has a problem)."""
    conn.execute(
        sa.select(campaigns.c.id)
        .where(campaigns.c.project_id == project.id, campaigns.c.id == run.campaign_id)
        .with_for_update()
    )
    still_pending = conn.execute(
        sa.select(campaign_runs.c.state).where(
            campaign_runs.c.project_id == project.id, campaign_runs.c.id == run.id
        )
    ).scalar()
    if still_pending != "pending":
        return str(still_pending)
    campaign = get_campaign(conn, project, run.campaign_id)
    targeting = Targeting.of(campaign)
    settings = mail_settings.load(conn, project)
    catalog = audience.Catalog.load(conn, project)
    found = audience.problems(catalog, targeting, campaign.channel, settings, campaign.webhook_url)
    if found:
        error = "; ".join(f"{p.path}: {p.message}" for p in found)
        _set_run(conn, project, run.id, state="error", error=error[:1000], finished_at=now)
        return "error"
    where = audience.targeted(conn, project, targeting, now)
    resend = Resend(campaign.resend, campaign.resend_after_days)
    reason = audience.skip_reason(project, campaign.channel, campaign.id, resend, now)
    counts = audience.breakdown(conn, project, where, reason)
    recipients = sa.select(
        sa.literal(project.id),
        sa.literal(campaign.id),
        sa.literal(run.id),
        leads.c.id,
        leads.c.email,
        sa.literal("queued"),
    ).where(leads.c.project_id == project.id, where, reason == audience.SENDABLE)
    columns = ["project_id", "campaign_id", "run_id", "lead_id", "email", "state"]
    conn.execute(campaign_recipients.insert().from_select(columns, recipients))
    _set_run(
        conn,
        project,
        run.id,
        state="sending",
        frozen_at=now,
        audience=sum(counts.values()),
        skipped_already_sent=counts["already_sent"],
        skipped_unsubscribed=counts["unsubscribed"],
        skipped_no_email=counts["no_email"],
    )
    return "sending"


def _set_run(conn: sa.Connection, project: Project, run_id: int, **values: Any) -> None:
    conn.execute(
        campaign_runs.update()
        .where(campaign_runs.c.project_id == project.id, campaign_runs.c.id == run_id)
        .values(**values)
    )


def finish_if_done(conn: sa.Connection, project: Project, run_id: int, now: datetime) -> bool:
    """Mark a sending run done once no recipient is queued or in flight."""
    open_rows = conn.execute(
        sa.select(campaign_recipients.c.id)
        .where(
            campaign_recipients.c.project_id == project.id,
            campaign_recipients.c.run_id == run_id,
            campaign_recipients.c.state.in_(("queued", "sending")),
        )
        .limit(1)
    ).first()
    if open_rows is not None:
        return False
    conn.execute(
        campaign_runs.update()
        .where(
            campaign_runs.c.project_id == project.id,
            campaign_runs.c.id == run_id,
            campaign_runs.c.state == "sending",
        )
        .values(state="done", finished_at=now, leased_by=None, leased_until=None)
    )
    return True


# -- reading --------------------------------------------------------------------------------------


def state_counts(
    conn: sa.Connection, project: Project, run_ids: Iterable[int]
) -> dict[int, dict[str, int]]:
    """Recipients per state of each run (one query for a whole page of runs)."""
    ids = sorted(set(run_ids))
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(RECIPIENT_STATES, 0))
    if not ids:
        return counts
    query = (
        sa.select(campaign_recipients.c.run_id, campaign_recipients.c.state, sa.func.count())
        .where(
            campaign_recipients.c.project_id == project.id, campaign_recipients.c.run_id.in_(ids)
        )
        .group_by(campaign_recipients.c.run_id, campaign_recipients.c.state)
    )
    for run_id, state, total in conn.execute(query):
        counts[run_id][state] = int(total)
    return counts


def summary(run: Any, counts: dict[str, int]) -> dict[str, Any]:
    """A run as the API shows it: what was targeted, sent, skipped and failed."""
    return {
        **{name: value for name, value in run._mapping.items() if name not in ("leased_by",)},
        "recipients": sum(counts.values()),
        "sent": counts["sent"],
        "failed": counts["failed"],
        "unconfirmed": counts["unconfirmed"],
        "queued": counts["queued"] + counts["sending"],
    }


def runs_of(
    conn: sa.Connection, project: Project, campaign_id: int, before: int | None, limit: int
) -> list[dict[str, Any]]:
    query = sa.select(campaign_runs).where(
        campaign_runs.c.project_id == project.id, campaign_runs.c.campaign_id == campaign_id
    )
    if before is not None:
        query = query.where(campaign_runs.c.id < before)
    rows = list(conn.execute(query.order_by(campaign_runs.c.id.desc()).limit(limit)))
    counts = state_counts(conn, project, (r.id for r in rows))
    return [summary(r, counts[r.id]) for r in rows]


def last_runs(
    conn: sa.Connection, project: Project, campaign_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """The newest run of each campaign, summarised (for the campaign list, in two queries)."""
    if not campaign_ids:
        return {}
    newest = (
        sa.select(sa.func.max(campaign_runs.c.id))
        .where(
            campaign_runs.c.project_id == project.id, campaign_runs.c.campaign_id.in_(campaign_ids)
        )
        .group_by(campaign_runs.c.campaign_id)
    )
    rows = list(
        conn.execute(
            sa.select(campaign_runs).where(
                campaign_runs.c.project_id == project.id, campaign_runs.c.id.in_(newest)
            )
        )
    )
    counts = state_counts(conn, project, (r.id for r in rows))
    return {r.campaign_id: summary(r, counts[r.id]) for r in rows}


def get_run(conn: sa.Connection, project: Project, campaign_id: int, run_id: int) -> dict[str, Any]:
    row = conn.execute(
        sa.select(campaign_runs).where(
            campaign_runs.c.project_id == project.id,
            campaign_runs.c.campaign_id == campaign_id,
            campaign_runs.c.id == run_id,
        )
    ).first()
    if row is None:
        raise NotFound(f"no run {run_id} of campaign {campaign_id}")
    return summary(row, state_counts(conn, project, [run_id])[run_id])


def recipients_of(
    conn: sa.Connection,
    project: Project,
    run_id: int,
    state: str | None,
    after: int | None,
    limit: int,
) -> list[Any]:
    """A page of a run's recipients in id order, after a recipient id (keyset, no OFFSET)."""
    r = campaign_recipients
    query = (
        sa.select(
            r.c.id,
            r.c.lead_id,
            r.c.email,
            r.c.state,
            r.c.attempts,
            r.c.last_error,
            r.c.sent_at,
            r.c.next_attempt_at,
            leads.c.first_name,
            leads.c.last_name,
        )
        .select_from(
            r.outerjoin(
                leads, sa.and_(leads.c.project_id == r.c.project_id, leads.c.id == r.c.lead_id)
            )
        )
        .where(r.c.project_id == project.id, r.c.run_id == run_id)
    )
    if state is not None:
        query = query.where(r.c.state == state)
    if after is not None:
        query = query.where(r.c.id > after)
    return list(conn.execute(query.order_by(r.c.id).limit(limit)))
