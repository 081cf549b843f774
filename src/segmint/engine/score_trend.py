"""A segment's scores through time, from the leads' score history (`score_history`): the
average score of the members at the end of each day, each lead counted with the score it had
then, and the average score of the current members at a date and some days after it ("webinar
attendees' score before vs 7 days after").

A lead's score at a moment is its last score_history point at or before it. A lead with points
only after that moment had the score every lead starts with, 0; a lead with no point at all
(its score written before history was kept, or never changed) counts with its current score.
Members at a moment come from the membership history, which replays to the stored membership:
the last entry or exit at or before the moment decides.

Cost: the trend is one statement, set-based: the membership spans (an entry until the lead's
next change) and the score spans (a point until the lead's next point, only those reaching into
the window) are each read once and joined with the days by range, grouped per day; no lookup
per (day, member), which grew with days x members (30 days of a 10,000-member segment were
300,000 index lookups). The before/after comparison is still two lookups per current member.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from segmint.clock import as_utc
from segmint.engine.analytics import SCORE_DIGITS, window
from segmint.errors import InvalidInput
from segmint.filters.timing import day_start
from segmint.projects import Project
from segmint.store.tables import (
    Timestamp,
    leads,
    membership_history,
    score_history,
    segment_members,
)

MAX_AFTER_DAYS = 365


def parse_moment(text: str, zone: ZoneInfo, path: str) -> datetime:
    """A date (its local midnight) or an ISO date-time (without an offset: local time)."""
    value = (text or "").strip()
    try:
        if len(value) == 10:
            return day_start(date.fromisoformat(value), zone)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            "expected a date like 2026-11-01 or a date-time like 2026-11-01T09:00", path
        ) from None
    return as_utc(moment if moment.tzinfo else moment.replace(tzinfo=zone))


def score_at(project: Project, lead_id: Any, moment: Any) -> sa.ColumnElement[float]:
    """The score lead `lead_id` had at `moment` (columns or values), as the module says."""
    point = score_history.alias("point")
    last = (
        sa.select(point.c.score)
        .where(
            point.c.project_id == project.id,
            point.c.lead_id == lead_id,
            point.c.at <= moment,
        )
        .order_by(point.c.at.desc(), point.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    later = score_history.alias("later")
    has_points = sa.exists().where(later.c.project_id == project.id, later.c.lead_id == lead_id)
    return sa.func.coalesce(last, sa.case((has_points, 0.0), else_=leads.c.engagement_score))


@dataclass(frozen=True)
class ScoreDay:
    day: date
    member_count: int
    avg_score: float | None


def _average(total: float | None, count: int) -> float | None:
    return round(float(total or 0) / count, SCORE_DIGITS) if count else None


def score_trend(
    conn: sa.Connection, project: Project, segment_id: int, now: datetime, days: int
) -> list[ScoreDay]:
    """Members and their average score (as it was then) at the end of each of the last `days`
    local days; today's point is now."""
    now = as_utc(now)
    win = window(now, project.zone, days)
    ends = [min(end, now) for end in win.ends]
    moments = sa.union_all(
        *(
            sa.select(
                sa.literal(i, sa.Integer).label("i"), sa.literal(end, Timestamp()).label("at")
            )
            for i, end in enumerate(ends)
        )
    ).subquery("moments")
    members = _member_spans(project, segment_id)
    inside = sa.and_(
        members.c.change == "entered",
        members.c.at <= moments.c.at,
        sa.or_(members.c.until.is_(None), members.c.until > moments.c.at),
    )
    scores = _score_spans(project, segment_id, min(ends), max(ends))
    in_effect = sa.and_(
        scores.c.lead_id == members.c.lead_id,
        scores.c.at <= moments.c.at,
        sa.or_(scores.c.until.is_(None), scores.c.until > moments.c.at),
    )
    scored_leads = _scored_leads(project, segment_id)
    # No point at or before the moment: 0 for a lead with points (later ones), else its
    # current score (no history at all), as score_at says.
    unscored = sa.case((scored_leads.c.lead_id.is_not(None), 0.0), else_=leads.c.engagement_score)
    scored = (
        sa.select(moments.c.i, sa.func.coalesce(scores.c.score, unscored).label("score"))
        .select_from(
            moments.join(members, inside)
            .join(leads, sa.and_(leads.c.project_id == project.id, leads.c.id == members.c.lead_id))
            .outerjoin(scores, in_effect)
            .outerjoin(scored_leads, scored_leads.c.lead_id == members.c.lead_id)
        )
        .subquery("scored")
    )
    query = sa.select(scored.c.i, sa.func.count(), sa.func.sum(scored.c.score)).group_by(scored.c.i)
    counts: dict[int, int] = {}
    totals: dict[int, float] = {}
    for i, n, total in conn.execute(query):
        counts[int(i)], totals[int(i)] = int(n), float(total or 0)
    return [
        ScoreDay(day, counts.get(i, 0), _average(totals.get(i), counts.get(i, 0)))
        for i, day in enumerate(win.dates)
    ]


def _member_spans(project: Project, segment_id: int) -> sa.Subquery:
    """Each entry or exit of the segment with the moment the lead's next one came (`until`,
    null for its last): a lead is a member at t when an entry's span holds t."""
    h = membership_history.c
    return (
        sa.select(
            h.lead_id,
            h.change,
            h.at,
            sa.func.lead(h.at).over(partition_by=h.lead_id, order_by=(h.at, h.id)).label("until"),
        )
        .where(h.project_id == project.id, h.segment_id == segment_id)
        .subquery("spans")
    )


def _segment_leads(project: Project, segment_id: int) -> sa.Select[Any]:
    """Every lead that was ever in the segment (the only ones whose scores the trend reads)."""
    h = membership_history.c
    return sa.select(h.lead_id).where(h.project_id == project.id, h.segment_id == segment_id)


def _score_spans(project: Project, segment_id: int, first: datetime, last: datetime) -> sa.Subquery:
    """The score points of the segment's leads, each with when the lead's next point came: the
    point in effect at t is the one whose span [at, until) holds t, which is score_at's last
    point at or before t (of several at one instant the highest id: the others' spans are
    empty). Only spans that reach into [first, last] are kept, so a long history costs the
    points inside the window and one before it per lead, not one lookup per member and day."""
    p = score_history.c
    spans = (
        sa.select(
            p.lead_id,
            p.score,
            p.at,
            sa.func.lead(p.at).over(partition_by=p.lead_id, order_by=(p.at, p.id)).label("until"),
        )
        .where(p.project_id == project.id, p.lead_id.in_(_segment_leads(project, segment_id)))
        .subquery("points")
    )
    reaching = sa.or_(spans.c.until.is_(None), spans.c.until > first)
    return (
        sa.select(spans.c.lead_id, spans.c.score, spans.c.at, spans.c.until)
        .where(spans.c.at <= last, reaching)
        .subquery("score_spans")
    )


def _scored_leads(project: Project, segment_id: int) -> sa.Subquery:
    """The segment's leads that have any score point (the others count with their current
    score)."""
    p = score_history.c
    return (
        sa.select(p.lead_id)
        .where(p.project_id == project.id, p.lead_id.in_(_segment_leads(project, segment_id)))
        .group_by(p.lead_id)
        .subquery("scored_leads")
    )


@dataclass(frozen=True)
class BeforeAfter:
    segment_id: int
    at: datetime
    later_at: datetime
    after_days: int
    members: int
    avg_before: float | None
    avg_after: float | None
    change: float | None


def before_after(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    at: datetime,
    after_days: int,
    now: datetime,
) -> BeforeAfter:
    """The current members' average score at `at` and `after_days` days later (no later than
    now: a comparison needs the later moment to have happened)."""
    if not 1 <= after_days <= MAX_AFTER_DAYS:
        raise InvalidInput(f"must be between 1 and {MAX_AFTER_DAYS}", "after_days")
    at, now = as_utc(at), as_utc(now)
    later = at + timedelta(days=after_days)
    if later > now:
        raise InvalidInput(
            f"{after_days} days after it is still to come: choose an earlier date", "at"
        )
    m = segment_members.c
    query = (
        sa.select(
            sa.func.count(),
            sa.func.sum(score_at(project, leads.c.id, at)),
            sa.func.sum(score_at(project, leads.c.id, later)),
        )
        .select_from(
            segment_members.join(
                leads, sa.and_(leads.c.project_id == m.project_id, leads.c.id == m.lead_id)
            )
        )
        .where(m.project_id == project.id, m.segment_id == segment_id)
    )
    count, before_sum, after_sum = conn.execute(query).one()
    before, after = _average(before_sum, int(count)), _average(after_sum, int(count))
    change = (
        round(after - before, SCORE_DIGITS) if before is not None and after is not None else None
    )
    return BeforeAfter(segment_id, at, later, after_days, int(count), before, after, change)
