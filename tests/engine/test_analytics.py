"""Segment analytics in the engine, on both databases: DST days, deleted leads, folded statuses,
and a number of queries that does not grow with the window."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.clock import FrozenClock
from segmint.engine import analytics, leads, segments
from segmint.errors import InvalidInput
from segmint.ingest import upsert_leads
from segmint.model import Role
from segmint.projects import Project, get_project_by_id
from segmint.store.tables import leads as leads_table
from segmint.store.tables import projects, users
from segmint.worker.loop import Worker

NEW = {"field": "status", "op": "eq", "value": "new"}
NEW_YORK = ZoneInfo("America/New_York")  # DST ends on Sunday 1 November 2026, 02:00 local


def test_window_follows_the_zone_across_a_dst_change() -> None:
    now = datetime(2026, 11, 2, 4, 30, tzinfo=UTC)  # Nov 1, 23:30 in New York (EST, UTC-5)
    win = analytics.window(now, NEW_YORK, 3)
    assert win.dates == (date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1))
    assert win.start == datetime(2026, 10, 30, 4, 0, tzinfo=UTC)
    assert [e - s for s, e in zip((win.start, *win.ends), win.ends, strict=False)] == [
        timedelta(hours=24),
        timedelta(hours=24),
        timedelta(hours=25),
    ]
    for bad in (0, analytics.MAX_DAYS + 1):
        with pytest.raises(InvalidInput):
            analytics.window(now, NEW_YORK, bad)


def _owner(db: Engine, project: Project) -> Principal:
    with db.connect() as conn:
        user_id = conn.execute(sa.select(users.c.id)).scalar_one()
    return Principal(user_id, project.organization_id, "owner@acme.test", Role.OWNER, None)


def _in_new_york(db: Engine, project: Project) -> Project:
    with db.begin() as conn:
        conn.execute(
            projects.update().where(projects.c.id == project.id).values(timezone=NEW_YORK.key)
        )
        return get_project_by_id(conn, project.id)


@contextmanager
def _statements(db: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(db, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(db, "before_cursor_execute", record)


def _analytics(db: Engine, project: Project, segment_id: int, now: datetime, days: int) -> Any:
    with db.connect() as conn:
        row = segments.get_segment(conn, project, segment_id)
        return analytics.segment_analytics(conn, project, row, now, days)


def test_deleted_leads_count_in_the_trend_but_not_in_its_average(
    db: Engine, project: Project, index_mode: str
) -> None:
    project = _in_new_york(db, project)
    clock = FrozenClock(datetime(2026, 10, 31, 12, 0, tzinfo=UTC))  # Oct 31, 08:00 EDT
    worker = Worker(db, clock)
    records = [
        {"email": "x@x.test", "status": "new", "engagement_score": 10},
        {"email": "y@x.test", "status": "new", "engagement_score": 30},
    ]
    upsert_leads(db, project, enumerate(records), clock=clock)
    with db.begin() as conn:
        segment_id = segments.create_segment(
            conn, project, _owner(db, project), {"name": "New", "filter": NEW}, clock
        ).id
        emails = sa.select(leads_table.c.email, leads_table.c.id)
        ids = dict(conn.execute(emails.where(leads_table.c.project_id == project.id)).all())
    worker.drain()

    clock.set(datetime(2026, 11, 2, 4, 30, tzinfo=UTC))  # Nov 1, 23:30 EST: still Nov 1
    with db.begin() as conn:
        leads.update_lead(conn, project, ids["y@x.test"], {"status": "lost"}, clock)
    worker.drain()
    clock.set(datetime(2026, 11, 2, 6, 0, tzinfo=UTC))  # Nov 2, 01:00 EST
    with db.begin() as conn:
        leads.delete_lead(conn, project, ids["x@x.test"], clock)

    result = _analytics(db, project, segment_id, clock.now(), 4)
    assert [(p.day.isoformat(), p.member_count, p.avg_engagement_score) for p in result.daily] == [
        ("2026-10-30", 0, None),
        ("2026-10-31", 2, 30.0),  # x and y; x is gone, so only y's score is known
        ("2026-11-01", 1, None),  # x only
        ("2026-11-02", 0, None),
    ]
    assert [(p.entered, p.exited) for p in result.daily] == [(0, 0), (2, 0), (0, 1), (0, 1)]
    assert result.member_count == 0 and result.avg_engagement_score is None
    assert result.conversion_rate is None and result.timezone == "America/New_York"


def test_conversion_folds_statuses_and_queries_do_not_grow_with_days(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    worker = Worker(db, clock)
    records = [{"email": f"{i}@x.test", "status": "new", "engagement_score": i} for i in range(3)]
    upsert_leads(db, project, enumerate(records), clock=clock)
    tree = {"field": "email", "op": "ends_with", "value": "@x.test"}
    with db.begin() as conn:
        segment_id = segments.create_segment(
            conn, project, _owner(db, project), {"name": "All", "filter": tree}, clock
        ).id
    worker.drain()
    with db.begin() as conn:  # as data from before statuses were checked might be stored
        conn.execute(
            leads_table.update()
            .where(leads_table.c.email == "0@x.test")
            .values(status=" Qualified ")
        )

    with _statements(db) as month:
        result = _analytics(db, project, segment_id, clock.now(), 30)
    with _statements(db) as year:
        _analytics(db, project, segment_id, clock.now(), analytics.MAX_DAYS)
    assert len(month) == len(year) == 4, month  # the segment, then three analytics queries
    assert result.member_count == 3 and result.avg_engagement_score == 1.0
    assert result.converted_count == 1 and result.conversion_rate == pytest.approx(1 / 3)
    assert result.daily[-1].member_count == 3 and result.daily[-1].entered == 3
