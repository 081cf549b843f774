"""Scores through time from the score history, on both databases: each member counted with the
score it had at each day's end, members as the membership history says they were, and the
current members' average at a date and some days after it."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.clock import FrozenClock
from segmint.engine import score_trend
from segmint.engine import segments as segments_engine
from segmint.engine.analytics import window
from segmint.errors import InvalidInput
from segmint.ingest import upsert_leads
from segmint.model import Role
from segmint.projects import Project
from segmint.store.tables import leads, membership_history, score_history, segments, users
from segmint.worker.loop import Worker
from tests.filters.harness import LeadSpec, insert_leads

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


def _reference_trend(
    conn: sa.Connection, project: Project, spans: dict[int, list[tuple[datetime, datetime | None]]],
    now: datetime, days: int,
) -> list[tuple[int, float | None]]:  # fmt: skip
    """The trend by its definition, one lookup per (day, member): the members whose span holds
    each day's end, each with `score_at` then (the statement the trend used to run per member)."""
    found = []
    for end in (min(end, now) for end in window(now, project.zone, days).ends):
        members = [
            lead for lead, held in spans.items() if any(a <= end and (b is None or b > end)
                                                       for a, b in held)
        ]  # fmt: skip
        total = 0.0
        for lead in members:
            query = sa.select(score_trend.score_at(project, leads.c.id, end)).where(
                leads.c.id == lead
            )
            total += float(conn.execute(query).scalar_one())
        found.append((len(members), round(total / len(members), 2) if members else None))
    return found


@pytest.mark.parametrize("seed", range(4))
def test_the_set_based_trend_is_the_per_member_lookup(
    db: Engine, project: Project, seed: int
) -> None:
    """Random entries and exits, score points before, inside and after the window, several at
    one instant, leads with none: one statement gives what a lookup per (day, member) gives."""
    rng = random.Random(seed)
    start = T0 - timedelta(days=12)
    with db.begin() as conn:
        scores_now = [LeadSpec({"engagement_score": float(rng.randrange(50))}) for _ in range(12)]
        lead_ids = insert_leads(conn, project.id, scores_now)
        conn.execute(
            segments.insert().values(
                id=77, project_id=project.id, name="S", filter=NEW, created_at=start,
                updated_at=start,
            )
        )  # fmt: skip
        spans: dict[int, list[tuple[datetime, datetime | None]]] = {}
        history, points = [], []
        for lead in lead_ids:
            moments = sorted(start + timedelta(hours=rng.randrange(14 * 24)) for _ in range(4))
            moments = sorted(set(moments))[: rng.randrange(0, 5)]
            for n, at in enumerate(moments):
                change = "entered" if n % 2 == 0 else "exited"
                history.append({"project_id": project.id, "segment_id": 77, "lead_id": lead,
                                "change": change, "at": at, "segment_version": 1,
                                "reason": "filter"})  # fmt: skip
            spans[lead] = [
                (moments[n], moments[n + 1] if n + 1 < len(moments) else None)
                for n in range(0, len(moments), 2)
            ]
            if rng.random() < 0.25:
                continue  # no score history: counts with its current score
            for _ in range(rng.randrange(1, 6)):
                at = start + timedelta(hours=rng.choice([0, 3, 3, 50, 100, 200, 330]))
                points.append({"project_id": project.id, "lead_id": lead, "at": at,
                               "score": float(rng.randrange(100))})  # fmt: skip
        if history:
            conn.execute(membership_history.insert(), history)
        if points:
            conn.execute(score_history.insert(), points)
    now = T0 + timedelta(hours=5)
    statements: list[str] = []
    with db.connect() as conn:
        reference = _reference_trend(conn, project, spans, now, 10)

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        sa.event.listen(conn, "before_cursor_execute", count)
        days = score_trend.score_trend(conn, project, 77, now, 10)
        sa.event.remove(conn, "before_cursor_execute", count)
    assert [(d.member_count, d.avg_score) for d in days] == reference
    assert len(statements) == 1  # set-based: not a lookup per member and day
    assert sum(n for n, _ in reference) > 0
