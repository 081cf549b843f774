"""Scores through time from the score history, on both databases: each member counted with the
score it had at each day's end, members as the membership history says they were, and the
current members' average at a date and some days after it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.clock import FrozenClock
from segmint.engine import score_trend
from segmint.engine import segments as segments_engine
from segmint.errors import InvalidInput
from segmint.ingest import upsert_leads
from segmint.model import Role
from segmint.projects import Project
from segmint.store.tables import leads, score_history, users
from segmint.worker.loop import Worker

NEW = {"field": "status", "op": "eq", "value": "new"}
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _write(db: Engine, project: Project, clock: FrozenClock, status: dict[str, str]) -> None:
    rows = [{"email": f"{name}@x.test", "status": s} for name, s in status.items()]
    assert not upsert_leads(db, project, list(enumerate(rows, start=1)), clock=clock).errors
    Worker(db, clock).drain()


def _ids(db: Engine, project: Project) -> dict[str, int]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(leads.c.email, leads.c.id).where(leads.c.project_id == project.id)
        )
        return {email.split("@")[0]: lead_id for email, lead_id in rows}


def _scores(db: Engine, project: Project, points: list[tuple[int, datetime, float]]) -> None:
    """Score points as scoring writes them, each lead's current score its last point's."""
    with db.begin() as conn:
        for lead_id, at, score in points:
            conn.execute(
                score_history.insert().values(
                    project_id=project.id, lead_id=lead_id, at=at, score=score
                )
            )
            conn.execute(
                leads.update()
                .where(leads.c.project_id == project.id, leads.c.id == lead_id)
                .values(engagement_score=score)
            )


@pytest.fixture
def segment(db: Engine, project: Project) -> int:
    clock = FrozenClock(T0)
    _write(db, project, clock, {"ann": "new", "bob": "new"})
    with db.connect() as conn:
        user_id = conn.execute(sa.select(users.c.id)).scalar_one()
    owner = Principal(user_id, project.organization_id, "owner@acme.test", Role.OWNER, None)
    with db.begin() as conn:
        row = segments_engine.create_segment(
            conn, project, owner, {"name": "New", "filter": NEW}, clock
        )
    Worker(db, clock).drain()
    ids = _ids(db, project)
    hour = timedelta(hours=1)
    _scores(
        db,
        project,
        [
            (ids["ann"], T0 + hour, 10.0),
            (ids["bob"], T0 + hour, 20.0),
            (ids["ann"], T0 + timedelta(days=2), 30.0),
        ],
    )
    clock.advance(timedelta(days=1))
    _write(db, project, clock, {"bob": "lost"})  # Bob leaves on 2 November
    return int(row.id)


def test_the_trend_counts_each_member_with_its_score_then(
    db: Engine, project: Project, segment: int
) -> None:
    now = T0 + timedelta(days=3)
    with db.connect() as conn:
        days = score_trend.score_trend(conn, project, segment, now, 5)
    assert [(d.day, d.member_count, d.avg_score) for d in days] == [
        (date(2026, 10, 31), 0, None),  # before anyone entered
        (date(2026, 11, 1), 2, 15.0),  # Ann 10, Bob 20: the scores they had then
        (date(2026, 11, 2), 1, 10.0),  # Bob left
        (date(2026, 11, 3), 1, 30.0),  # Ann's score rose
        (date(2026, 11, 4), 1, 30.0),  # today: now
    ]


def test_a_lead_without_score_history_counts_with_its_current_score(
    db: Engine, project: Project, segment: int
) -> None:
    clock = FrozenClock(T0 + timedelta(days=3))
    _write(db, project, clock, {"cy": "new"})
    with db.begin() as conn:
        conn.execute(
            leads.update()
            .where(leads.c.project_id == project.id, leads.c.email == "cy@x.test")
            .values(engagement_score=6.0)
        )
    with db.connect() as conn:
        days = score_trend.score_trend(conn, project, segment, clock.now(), 1)
    assert [(d.member_count, d.avg_score) for d in days] == [(2, 18.0)]  # Ann 30, Cy 6


def test_before_and_after_a_date(db: Engine, project: Project, segment: int) -> None:
    now = T0 + timedelta(days=3)
    at = T0 + timedelta(minutes=30)  # before Ann's first point: she had 0
    with db.connect() as conn:
        found = score_trend.before_after(conn, project, segment, at, 2, now)
        assert (found.members, found.avg_before, found.avg_after, found.change) == (
            1,
            0.0,
            30.0,
            30.0,
        )
        assert found.later_at == at + timedelta(days=2)
        with pytest.raises(InvalidInput) as caught:
            score_trend.before_after(conn, project, segment, at, 7, now)
        assert caught.value.path == "at"
        with pytest.raises(InvalidInput) as caught:
            score_trend.before_after(conn, project, segment, at, 0, now)
        assert caught.value.path == "after_days"
