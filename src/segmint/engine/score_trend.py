"""A segment's scores through time, from the leads' score history (`score_history`): the
average score of the members at the end of each day, each lead counted with the score it had
then, and the average score of the current members at a date and some days after it ("webinar
attendees' score before vs 7 days after").

A lead's score at a moment is its last score_history point at or before it. A lead with points
only after that moment had the score every lead starts with, 0; a lead with no point at all
(its score written before history was kept, or never changed) counts with its current score.
Members at a moment come from the membership history, which replays to the stored membership:
the last entry or exit at or before the moment decides.

Cost: the trend reads one row per (day, member) and looks each score up through the index on
(project_id, lead_id, at), so it grows with days x members (30 days of a 10,000-member segment:
300,000 index lookups); the before/after comparison is two lookups per current member.
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
    h = membership_history.c
    spans = (
        sa.select(
            h.lead_id,
            h.change,
            h.at,
            sa.func.lead(h.at).over(partition_by=h.lead_id, order_by=(h.at, h.id)).label("until"),
        )
        .where(h.project_id == project.id, h.segment_id == segment_id)
        .subquery("spans")
    )
    inside = sa.and_(
        spans.c.change == "entered",
        spans.c.at <= moments.c.at,
        sa.or_(spans.c.until.is_(None), spans.c.until > moments.c.at),
    )
    scored = (
        sa.select(moments.c.i, score_at(project, leads.c.id, moments.c.at).label("score"))
        .select_from(
            moments.join(spans, inside).join(
                leads, sa.and_(leads.c.project_id == project.id, leads.c.id == spans.c.lead_id)
            )
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
