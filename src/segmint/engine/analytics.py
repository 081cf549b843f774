"""Segment analytics: current size, score and conversion, and a daily trend rebuilt from history.

Current numbers read the stored membership (`segment_members`): maintained for an active
segment, kept as it was for an inactive (frozen) one. The trend is never stored: the count at the
end of each local day is the current count with the later history undone, day by day backwards.
Everything is a fixed number of set-wise queries (three, whatever `days` is), each scoped by
project, so the answer costs the same for a segment of ten leads as for one of a million.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from segmint.clock import as_utc
from segmint.engine import answering, filtering
from segmint.errors import InvalidInput, SegmintError
from segmint.filters.dialects import dialect_for
from segmint.filters.timing import day_start, local_date
from segmint.folding import fold
from segmint.index import Audience
from segmint.projects import Project
from segmint.store.tables import (
    account_membership_history,
    account_segment_members,
    events,
    leads,
    membership_history,
    segment_members,
)

DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 365
TOP_EVENTS: Final = 10
SCORE_DIGITS: Final = 2  # averages are rounded: sums undone by subtraction leave float noise


@dataclass(frozen=True)
class Window:
    """The local days an answer covers: `dates[i]` ends at `ends[i]` (the next local midnight,
    in UTC); the first day starts at `start`. Boundaries come from the project's zone with the
    same rules as the filter language's calendar periods, so a DST day has 23 or 25 hours."""

    dates: tuple[date, ...]
    start: datetime
    ends: tuple[datetime, ...]


def window(now: datetime, zone: ZoneInfo, days: int) -> Window:
    """The `days` local days up to and including today (the day `now` falls on in `zone`)."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"must be between 1 and {MAX_DAYS}", "days")
    today = local_date(as_utc(now), zone)
    dates = tuple(today - timedelta(days=days - 1 - i) for i in range(days))
    ends = tuple(day_start(d + timedelta(days=1), zone) for d in dates)
    return Window(dates, day_start(dates[0], zone), ends)


@dataclass(frozen=True)
class Current:
    """Sums over the stored members now: the point the trend walks back from."""

    count: int
    score_sum: float
    converted: int


def current(
    conn: sa.Connection, project: Project, segment_id: int, now: datetime | None = None
) -> Current:
    """Members, their total engagement score and how many have the converted status. Status is
    compared folded (trimmed, case-insensitive) on both sides, as the filter language's `eq`
    compares it, so "Qualified " counts for a converted status of "qualified". The columnar
    index answers when it can: the stored members it holds, kept current from the change feed,
    not the segment's filter (the trend walks back from these, through the stored history)."""
    indexed = _current_indexed(conn, project, segment_id, now or datetime.now(UTC))
    if indexed is not None:
        return indexed
    m, lead = segment_members.c, leads.c
    folded = dialect_for(conn.dialect.name).fold(lead.status)
    converted = sa.case((folded == fold(project.converted_status), 1), else_=0)
    query = (
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(lead.engagement_score), 0.0),
            sa.func.coalesce(sa.func.sum(converted), 0),
        )
        .select_from(
            segment_members.join(
                leads, sa.and_(lead.project_id == m.project_id, lead.id == m.lead_id)
            )
        )
        .where(m.project_id == project.id, m.segment_id == segment_id)
    )
    count, score_sum, converted_count = conn.execute(query).one()
    return Current(int(count), float(score_sum), int(converted_count))


def _current_indexed(
    conn: sa.Connection, project: Project, segment_id: int, now: datetime
) -> Current | None:
    converted = {"field": "status", "op": "eq", "value": project.converted_status}
    try:
        tree = filtering.load(project, converted)
    except SegmintError:  # a converted status the filter language refuses: SQL compares it
        return None
    members = Audience((), (("segment", segment_id),))
    found = answering.member_sums(conn, project, members, "engagement_score", tree, now)
    if found is None:
        return None
    return Current(found.value.count, found.value.total, found.value.matching)


@dataclass(frozen=True)
class DayChanges:
    """History rows of one day. `scored_*` count only leads that still exist (whose score is
    known) and `*_score` sum their current scores."""

    entered: int = 0
    exited: int = 0
    scored_entered: int = 0
    scored_exited: int = 0
    entered_score: float = 0.0
    exited_score: float = 0.0


def day_index(at: sa.ColumnElement[Any], ends: Sequence[datetime]) -> sa.ColumnElement[int]:
    """The index of the day an instant (at or after the window's start) falls on: i for
    `ends[i-1] <= at < ends[i]`, len(ends) for anything later. A balanced tree of CASEs: about
    log2(days) comparisons a row instead of up to `days`, and the same SQL on both databases
    (SQLite knows no time zones; the boundaries already carry the project's)."""

    def pick(low: int, high: int) -> sa.ColumnElement[int]:
        if low == high:
            return sa.literal(low, sa.Integer)
        middle = (low + high) // 2
        return sa.case((at < ends[middle], pick(low, middle)), else_=pick(middle + 1, high))

    return pick(0, len(ends))


def changes_by_day(
    conn: sa.Connection, project: Project, segment_id: int, win: Window
) -> list[DayChanges]:
    """One entry per day of the window, plus a last one for anything after it, from one grouped
    query over the history rows since the window's start (the index on (project_id, segment_id,
    at) reads just those). Deleted leads still count as entering and leaving; their scores are
    unknown, so they are left out of the score sums and the `scored_*` counts."""
    h, lead = membership_history.c, leads.c
    entered, known = h.change == "entered", lead.id.is_not(None)
    score = sa.func.coalesce(lead.engagement_score, 0.0)
    rows = (
        sa.select(
            day_index(h.at, win.ends).label("day"),
            sa.case((entered, 1), else_=0).label("entered"),
            sa.case((entered, 0), else_=1).label("exited"),
            sa.case((sa.and_(entered, known), 1), else_=0).label("scored_entered"),
            sa.case((sa.and_(~entered, known), 1), else_=0).label("scored_exited"),
            sa.case((entered, score), else_=0.0).label("entered_score"),
            sa.case((entered, 0.0), else_=score).label("exited_score"),
        )
        .select_from(
            membership_history.outerjoin(
                leads, sa.and_(lead.project_id == h.project_id, lead.id == h.lead_id)
            )
        )
        .where(h.project_id == project.id, h.segment_id == segment_id, h.at >= win.start)
        .subquery()
    )
    # Grouped outside: PostgreSQL will not match a GROUP BY on an expression with parameters.
    sums = [sa.func.sum(c) for c in list(rows.c)[1:]]
    found = {
        int(day): DayChanges(*(int(v) for v in values[:4]), *(float(v) for v in values[4:]))
        for day, *values in conn.execute(sa.select(rows.c.day, *sums).group_by(rows.c.day))
    }
    return [found.get(i, DayChanges()) for i in range(len(win.ends) + 1)]


@dataclass(frozen=True)
class DayPoint:
    day: date
    member_count: int
    avg_engagement_score: float | None
    entered: int
    exited: int


def average(total: float, count: int) -> float | None:
    return round(total / count, SCORE_DIGITS) if count > 0 else None


def trend(now: Current, changes: Sequence[DayChanges], dates: Sequence[date]) -> list[DayPoint]:
    """Members at the end of each day, walking back from now: the end of day i is the current
    state with every change after it undone (a later entry subtracted, a later exit added).

    Being in the segment is a 0/1 that each history row flips, so the same undoing works for any
    sum over members, and the average score at each day's end is exact for the leads' CURRENT
    scores: scores are not versioned, so a lead whose score changed since counts with today's.
    Leads deleted since are in the count but not in the average (their score is gone)."""
    count, scored, score_sum = now.count, now.count, now.score_sum
    points: list[DayPoint] = []
    for i in reversed(range(len(dates))):
        later = changes[i + 1]
        count += later.exited - later.entered
        scored += later.scored_exited - later.scored_entered
        score_sum += later.exited_score - later.entered_score
        today = changes[i]
        points.append(
            DayPoint(dates[i], count, average(score_sum, scored), today.entered, today.exited)
        )
    return points[::-1]


@dataclass(frozen=True)
class EventCount:
    type: str
    count: int
    members: int


def top_events(
    conn: sa.Connection,
    project: Project,
    segment_id: int,
    since: datetime,
    until: datetime,
    limit: int = TOP_EVENTS,
) -> list[EventCount]:
    """The commonest event types of the current members in [since, until], with how many
    members had each. Ties go by type in code-point order on both databases."""
    e, m = events.c, segment_members.c
    total = sa.func.count().label("total")
    query = (
        sa.select(e.type, total, sa.func.count(sa.distinct(e.lead_id)).label("members"))
        .select_from(
            events.join(
                segment_members, sa.and_(m.project_id == e.project_id, m.lead_id == e.lead_id)
            )
        )
        .where(
            e.project_id == project.id,
            m.segment_id == segment_id,
            e.occurred_at >= since,
            e.occurred_at <= until,
        )
        .group_by(e.type)
        .order_by(total.desc(), dialect_for(conn.dialect.name).ordered_text(e.type))
        .limit(limit)
    )
    return [EventCount(t, int(n), int(members)) for t, n, members in conn.execute(query)]


@dataclass(frozen=True)
class Analytics:
    segment_id: int
    frozen: bool
    evaluated_at: datetime
    timezone: str
    days: int
    member_count: int
    avg_engagement_score: float | None
    converted_status: str
    converted_count: int
    conversion_rate: float | None
    daily: list[DayPoint]
    top_events: list[EventCount]


def segment_analytics(
    conn: sa.Connection, project: Project, row: Any, now: datetime, days: int = DEFAULT_DAYS
) -> Analytics:
    """Analytics of a segment (`row`, already checked visible to the caller) as of `now`, over
    the last `days` local days of the project's zone (today included). Top events cover the
    same days, up to `now`."""
    now = as_utc(now)
    win = window(now, project.zone, days)
    stats = current(conn, project, row.id, now)
    daily = trend(stats, changes_by_day(conn, project, row.id, win), win.dates)
    return Analytics(
        segment_id=row.id,
        frozen=not row.active,
        evaluated_at=now,
        timezone=project.timezone,
        days=days,
        member_count=stats.count,
        avg_engagement_score=average(stats.score_sum, stats.count),
        converted_status=project.converted_status,
        converted_count=stats.converted,
        conversion_rate=stats.converted / stats.count if stats.count else None,
        daily=daily,
        top_events=top_events(conn, project, row.id, win.start, now),
    )


# -- account segments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountDayPoint:
    day: date
    member_count: int
    entered: int
    exited: int


@dataclass(frozen=True)
class AccountAnalytics:
    """An account segment's analytics: its stored accounts now, the leads they hold, and the
    daily trend rebuilt from its history as a lead segment's is (no scores: accounts carry
    bands, not numbers)."""

    segment_id: int
    audience: str
    frozen: bool
    evaluated_at: datetime
    timezone: str
    days: int
    member_count: int
    lead_count: int
    daily: list[AccountDayPoint]


def _account_current(conn: sa.Connection, project: Project, segment_id: int) -> tuple[int, int]:
    """(stored member accounts, their leads): one grouped query."""
    m, lead = account_segment_members.c, leads.c
    per_account = (
        sa.select(m.account_id, sa.func.count(lead.id).label("leads"))
        .select_from(
            account_segment_members.outerjoin(
                leads, sa.and_(lead.project_id == m.project_id, lead.account_id == m.account_id)
            )
        )
        .where(m.project_id == project.id, m.segment_id == segment_id)
        .group_by(m.account_id)
        .subquery()
    )
    count, total = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(per_account.c.leads), 0))
    ).one()
    return int(count), int(total)


def account_changes_by_day(
    conn: sa.Connection, project: Project, segment_id: int, win: Window
) -> list[DayChanges]:
    """`changes_by_day` over an account segment's history (entries and exits only)."""
    h = account_membership_history.c
    entered = h.change == "entered"
    rows = (
        sa.select(
            day_index(h.at, win.ends).label("day"),
            sa.case((entered, 1), else_=0).label("entered"),
            sa.case((entered, 0), else_=1).label("exited"),
        )
        .where(h.project_id == project.id, h.segment_id == segment_id, h.at >= win.start)
        .subquery()
    )
    found = {
        int(day): DayChanges(int(entered_count), int(exited_count))
        for day, entered_count, exited_count in conn.execute(
            sa.select(rows.c.day, sa.func.sum(rows.c.entered), sa.func.sum(rows.c.exited)).group_by(
                rows.c.day
            )
        )
    }
    return [found.get(i, DayChanges()) for i in range(len(win.ends) + 1)]


def account_segment_analytics(
    conn: sa.Connection, project: Project, row: Any, now: datetime, days: int = DEFAULT_DAYS
) -> AccountAnalytics:
    """Analytics of an account segment (`row`, already checked visible) as of `now`."""
    now = as_utc(now)
    win = window(now, project.zone, days)
    count, lead_count = _account_current(conn, project, row.id)
    points = trend(
        Current(count, 0.0, 0), account_changes_by_day(conn, project, row.id, win), win.dates
    )
    return AccountAnalytics(
        segment_id=row.id,
        audience="accounts",
        frozen=not row.active,
        evaluated_at=now,
        timezone=project.timezone,
        days=days,
        member_count=count,
        lead_count=lead_count,
        daily=[AccountDayPoint(p.day, p.member_count, p.entered, p.exited) for p in points],
    )
