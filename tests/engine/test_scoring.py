"""Engagement scoring: points per event with where, caps and decay; levels; max_score; and
segments on scores following every change through the membership engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.clock import FrozenClock
from segmint.engine import scoring, segments
from segmint.errors import InvalidInput
from segmint.ingest import ingest_events, upsert_leads
from segmint.model import Role
from segmint.projects import Project
from segmint.store.tables import leads, membership_history, score_history, users
from segmint.worker.loop import Worker

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PRICING = {"field": "path", "op": "contains", "value": "/pricing"}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def _leads(db: Engine, project: Project, *emails: str) -> dict[str, int]:
    upsert_leads(db, project, enumerate({"email": e} for e in emails))
    with db.connect() as conn:
        rows = conn.execute(sa.select(leads.c.email, leads.c.id))
        return {email: lead_id for email, lead_id in rows}


def _events(db: Engine, project: Project, clock: FrozenClock, *events: dict[str, Any]) -> None:
    ingest_events(db, project, enumerate(events), clock=clock)


def _scores(db: Engine) -> dict[str, tuple[float, float, str | None]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(
                leads.c.email, leads.c.engagement_score, leads.c.max_score, leads.c.engagement_level
            )
        )
        return {r.email: (r.engagement_score, r.max_score, r.engagement_level) for r in rows}


def _rule(db: Engine, project: Project, clock: FrozenClock, **data: Any) -> scoring.Rule:
    with db.begin() as conn:
        return scoring.create_rule(conn, project, data, clock)


def test_scores_follow_new_events_at_once(db: Engine, project: Project, clock: FrozenClock) -> None:
    _leads(db, project, "a@x.test", "b@x.test")
    _rule(db, project, clock, event_type="page_view", points=5, cap=20)
    _rule(db, project, clock, event_type="page_view", points=10, where=PRICING)
    _rule(db, project, clock, event_type="demo_request", points=30)
    views = [{"email": "a@x.test", "type": "page_view", "metadata": {"path": "/blog"}}] * 6
    _events(db, project, clock, *views)
    # 6 views x 5 points, capped at 20
    assert _scores(db)["a@x.test"] == (20, 20, "Cold")
    _events(
        db,
        project,
        clock,
        {"email": "a@x.test", "type": "page_view", "metadata": {"path": "/Pricing/teams"}},
        {"email": "a@x.test", "type": "demo_request"},
    )
    # the cap is reached already; +10 for pricing (case-insensitive), +30 for the demo
    assert _scores(db)["a@x.test"] == (60, 60, "Hot")
    assert _scores(db)["b@x.test"] == (0, 0, "Cold")  # a new lead holds its score's level


def test_decay_across_a_clock_move_and_max_score(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    ids = _leads(db, project, "a@x.test")
    _rule(db, project, clock, event_type="webinar", points=40, decay="halve", decay_days=7)
    _rule(db, project, clock, event_type="trial", points=20, decay="expire", decay_days=14)
    worker = Worker(db, clock)
    worker.sweep_scores()  # rules changed: everyone scored once
    _events(db, project, clock, {"email": "a@x.test", "type": "webinar"})
    _events(db, project, clock, {"email": "a@x.test", "type": "trial"})
    assert _scores(db)["a@x.test"] == (60, 60, "Hot")

    clock.advance(timedelta(days=7))
    assert _scores(db)["a@x.test"][0] == 60  # nothing moves before the worker's sweep
    worker.sweep_scores()
    assert _scores(db)["a@x.test"] == (40, 60, "Warm")  # 40 halved, 20 not yet expired

    clock.advance(timedelta(days=7, minutes=1))
    worker.sweep_scores()
    assert _scores(db)["a@x.test"] == (10, 60, "Cold")  # 40/4; the trial points expired

    with db.connect() as conn:
        history = conn.execute(
            sa.select(score_history.c.score)
            .where(score_history.c.lead_id == ids["a@x.test"])
            .order_by(score_history.c.id)
        ).scalars()
        assert list(history) == [40, 60, 40, 10]


def test_changing_rules_rescores_every_lead(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    _leads(db, project, *(f"l{i}@x.test" for i in range(5)))
    _events(db, project, clock, *({"email": f"l{i}@x.test", "type": "open"} for i in range(5)))
    _events(db, project, clock, {"email": "l0@x.test", "type": "open"})
    assert {s for s, _, _ in _scores(db).values()} == {0}  # no rule yet
    rule = _rule(db, project, clock, event_type="open", points=15)
    Worker(db, clock).sweep_scores()
    assert _scores(db)["l0@x.test"] == (30, 30, "Warm")
    assert _scores(db)["l4@x.test"] == (15, 15, "Cold")

    with db.begin() as conn:
        scoring.update_rule(conn, project, rule.id, {"points": 40}, clock)
        scoring.set_levels(conn, project, [{"name": "Low", "min": 0}, {"name": "High", "min": 50}])
    progress: list[tuple[int, int]] = []
    scoring.rescore_all(db, project, clock.now(), on_progress=lambda *p: progress.append(p))
    assert progress[-1] == (5, 5)
    assert _scores(db)["l0@x.test"] == (80, 80, "High")
    assert _scores(db)["l4@x.test"] == (40, 40, "Low")
    with db.connect() as conn:
        counts = scoring.level_counts(conn, project, scoring.levels(conn, project))
    assert counts == [
        {"name": "Low", "min": 0, "count": 4},
        {"name": "High", "min": 50, "count": 1},
    ]


def test_segments_on_scores_see_changes_through_history(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    ids = _leads(db, project, "a@x.test")
    _rule(db, project, clock, event_type="visit", points=30, decay="halve", decay_days=1)
    worker = Worker(db, clock)
    worker.sweep_scores()
    with db.connect() as conn:
        owner_id = conn.execute(sa.select(users.c.id)).scalar_one()
    owner = Principal(owner_id, project.organization_id, "owner@acme.test", Role.OWNER, None)
    hot = {"field": "engagement_level", "op": "eq", "value": "Hot"}
    with db.begin() as conn:
        segment = segments.create_segment(
            conn, project, owner, {"name": "Hot", "filter": hot}, clock
        )
    worker.drain()
    _events(db, project, clock, *([{"email": "a@x.test", "type": "visit"}] * 2))
    worker.drain()
    clock.advance(timedelta(days=1))
    worker.sweep_scores()  # 60 -> 30: Warm
    worker.drain()
    with db.connect() as conn:
        changes = conn.execute(
            sa.select(membership_history.c.lead_id, membership_history.c.change)
            .where(membership_history.c.segment_id == segment.id)
            .order_by(membership_history.c.id)
        ).all()
    assert [tuple(c) for c in changes] == [
        (ids["a@x.test"], "entered"),
        (ids["a@x.test"], "exited"),
    ]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"event_type": "", "points": 1}, "event_type"),
        ({"event_type": "x", "points": "5"}, "points"),
        ({"event_type": "x", "points": 5, "cap": 0}, "cap"),
        ({"event_type": "x", "points": 5, "decay": "halve"}, "decay_days"),
        ({"event_type": "x", "points": 5, "decay": "fade", "decay_days": 3}, "decay"),
        (
            {"event_type": "x", "points": 5, "where": {"field": "path", "op": "gt"}},
            "rule.where.value",
        ),
    ],
)
def test_bad_rules_name_the_field(
    db: Engine, project: Project, clock: FrozenClock, data: dict[str, Any], path: str
) -> None:
    with db.begin() as conn, pytest.raises(InvalidInput) as error:
        scoring.create_rule(conn, project, data, clock)
    assert error.value.path == path


@pytest.mark.parametrize(
    ("levels", "path"),
    [
        ([], "levels"),
        ([{"name": "A", "min": 5}], "levels[0].min"),
        ([{"name": "A", "min": 0}, {"name": "B", "min": 0}], "levels[1].min"),
        ([{"name": "A", "min": 0}, {"name": "A", "min": 10}], "levels[1].name"),
    ],
)
def test_bad_levels_name_the_band(levels: list[Any], path: str) -> None:
    with pytest.raises(InvalidInput) as error:
        scoring.checked_levels(levels)
    assert error.value.path == path


def test_profile_fit_follows_writes_and_rule_changes(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    from segmint.engine import fit
    from segmint.engine.accounts import create_account

    with db.begin() as conn:
        account = create_account(conn, project, {"name": "Initech", "metadata": {}})
    upsert_leads(
        db,
        project,
        enumerate(
            [
                {"email": "vp@x.test", "job_title": "VP Sales", "account_id": account.id},
                {"email": "dev@x.test", "job_title": "Engineer"},
            ]
        ),
    )
    with db.begin() as conn:
        fit.create_rule(
            conn,
            project,
            {
                "name": "Leaders",
                "filter": {"field": "job_title", "op": "contains", "value": "vp"},
                "points": 30,
            },
            clock,
        )
        fit.create_rule(
            conn,
            project,
            {
                "name": "Known account",
                "filter": {"field": "account.name", "op": "is_not_null"},
                "points": 25,
            },
            clock,
        )
    worker = Worker(db, clock)
    worker.sweep_scores()  # the rules changed: every lead refitted
    levels = {email: level for email, (_, _, level) in _profile(db).items()}
    assert levels == {"vp@x.test": "Strong Fit", "dev@x.test": "Poor Fit"}

    upsert_leads(db, project, enumerate([{"email": "dev@x.test", "job_title": "VP Engineering"}]))
    worker.drain()  # the worker refits what was written
    assert _profile(db)["dev@x.test"][2] == "Good Fit"

    with db.begin() as conn:
        fit.set_levels(conn, project, [{"name": "Out", "min": 0}, {"name": "In", "min": 30}])
        assert fit.held_levels(conn, project).counts[1]["name"] == "In"
    worker.sweep_scores()
    assert {level for _, _, level in _profile(db).values()} == {"In"}

    with db.begin() as conn, pytest.raises(InvalidInput) as error:
        fit.create_rule(
            conn,
            project,
            {"name": "x", "filter": {"field": "nope", "op": "eq", "value": 1}, "points": 1},
        )
    assert error.value.path == "filter.field"


def _profile(db: Engine) -> dict[str, tuple[float, float, str | None]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(
                leads.c.email, leads.c.engagement_score, leads.c.max_score, leads.c.profile_level
            )
        )
        return {r.email: (r.engagement_score, r.max_score, r.profile_level) for r in rows}


def test_accounts_roll_up_their_leads(db: Engine, project: Project, clock: FrozenClock) -> None:
    from segmint.engine import account_levels, fit
    from segmint.engine.accounts import create_account, get_account

    with db.begin() as conn:
        account = create_account(conn, project, {"name": "Initech", "metadata": {}})
    upsert_leads(
        db,
        project,
        enumerate(
            {"email": e, "account_id": account.id, "job_title": t}
            for e, t in (("a@x.test", "VP"), ("b@x.test", "Engineer"))
        ),
    )
    _rule(db, project, clock, event_type="visit", points=10)
    with db.begin() as conn:
        vp = {"field": "job_title", "op": "eq", "value": "VP"}
        fit.create_rule(conn, project, {"name": "VP", "filter": vp, "points": 30}, clock)
    worker = Worker(db, clock)
    worker.sweep_scores()
    worker.drain()
    _events(db, project, clock, *([{"email": "a@x.test", "type": "visit"}] * 4))
    _events(db, project, clock, *([{"email": "b@x.test", "type": "visit"}] * 3))
    worker.drain()
    with db.connect() as conn:
        row = get_account(conn, project, account.id)
    assert (row.engagement_level, row.profile_level) == ("Warm", "Good Fit")  # max: 40; 30

    with db.begin() as conn:
        account_levels.set_rollup(conn, project, "sum", clock.now())
    worker.sweep_scores()
    worker.drain()
    with db.connect() as conn:
        row = get_account(conn, project, account.id)
    assert row.engagement_level == "Hot"  # 40 + 30
    with db.begin() as conn, pytest.raises(InvalidInput):
        account_levels.set_rollup(conn, project, "avg", clock.now())


def test_accounts_keep_their_given_levels_while_nothing_is_scored(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    from segmint.engine import account_levels
    from segmint.engine.accounts import create_account, get_account

    with db.begin() as conn:
        account = create_account(
            conn, project, {"name": "Acme", "metadata": {}, "engagement_level": "Imported"}
        )
    ids = _leads(db, project, "a@x.test")
    with db.begin() as conn:
        conn.execute(leads.update().values(account_id=account.id))
        assert account_levels.refresh(conn, project, list(ids.values()), clock.now()) == 0
        assert get_account(conn, project, account.id).engagement_level == "Imported"
    _rule(db, project, clock, event_type="visit", points=10)
    with db.begin() as conn:
        assert account_levels.refresh(conn, project, list(ids.values()), clock.now()) == 1
        assert get_account(conn, project, account.id).engagement_level == "Cold"
