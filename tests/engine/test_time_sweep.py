"""Time passing moves leads in and out, stamped with the exact instant a condition flipped."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.auth import Principal
from segmint.clock import FrozenClock
from segmint.engine import membership, segments, time_sweep
from segmint.ingest import ingest_events, upsert_leads
from segmint.model import Role
from segmint.projects import Project, create_project
from segmint.store.tables import leads, membership_history, users
from segmint.store.timeouts import WorkerLimits
from segmint.worker.loop import Worker

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _owner(db: Engine, project: Project) -> Principal:
    with db.connect() as conn:
        user_id = conn.execute(
            sa.select(users.c.id).where(users.c.organization_id == project.organization_id)
        ).scalar_one()
    return Principal(user_id, project.organization_id, "owner@acme.test", Role.OWNER, None)


def _segment(db: Engine, project: Project, tree: Any, clock: FrozenClock) -> int:
    with db.begin() as conn:
        data = {"name": "S", "filter": tree}
        return int(segments.create_segment(conn, project, _owner(db, project), data, clock).id)


def _lead_ids(db: Engine, project: Project) -> dict[str, int]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(leads.c.email, leads.c.id).where(leads.c.project_id == project.id)
        )
        return {email: lead_id for email, lead_id in rows}


def _history(db: Engine, segment_id: int) -> list[tuple[int, str, datetime, str]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(
                membership_history.c.lead_id,
                membership_history.c.change,
                membership_history.c.at,
                membership_history.c.reason,
            )
            .where(membership_history.c.segment_id == segment_id)
            .order_by(membership_history.c.id)
        )
        return [(r.lead_id, r.change, _utc(r.at), r.reason) for r in rows]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _members(db: Engine, project: Project, segment_id: int) -> set[int]:
    with db.connect() as conn:
        return membership.member_ids(conn, project, segment_id)


def _live(db: Engine, project: Project, segment_id: int, clock: FrozenClock) -> set[int]:
    with db.connect() as conn:
        row = segments.get_segment(conn, project, segment_id)
        where = segments.segment_condition(conn, project, row, clock.now())
        query = sa.select(leads.c.id).where(leads.c.project_id == project.id, where)
        return set(conn.execute(query).scalars())


def _created_within_a_week(
    db: Engine, project: Project, clock: FrozenClock, created: datetime
) -> int:
    """A lead a@x.test created at `created`, and a segment of leads created in the last 7 days."""
    record = {"email": "a@x.test", "created_at": created.isoformat()}
    upsert_leads(db, project, enumerate([record]), clock=clock)
    return _segment(db, project, {"field": "created_at", "op": "within_last", "value": 7}, clock)


def test_within_last_exits_at_created_at_plus_the_window(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    worker = Worker(db, clock)
    created = T0 - timedelta(days=2, minutes=17)
    segment_id = _created_within_a_week(db, project, clock, created)
    worker.drain()
    lead_id = _lead_ids(db, project)["a@x.test"]
    assert _members(db, project, segment_id) == {lead_id}

    clock.advance(timedelta(days=4))
    assert worker.sweep_time().exited == 0  # still within the window: nothing to do
    clock.advance(timedelta(days=1, seconds=30))  # past created + 7 days, by a little
    changes = worker.sweep_time()

    assert changes.exited == 1
    assert _members(db, project, segment_id) == set()
    assert _history(db, segment_id)[-1] == (lead_id, "exited", created + timedelta(days=7), "time")


def test_the_sweep_runs_in_its_own_loop_beside_the_outbox(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    """`sweep_forever` (the worker's sweep thread) applies time-based exits with no outbox
    work at all, and stops when told."""
    worker = Worker(db, clock)
    created = T0 - timedelta(days=6)
    segment_id = _created_within_a_week(db, project, clock, created)
    worker.drain()
    clock.advance(timedelta(days=2))
    stop = threading.Event()
    sweeper = threading.Thread(target=worker.sweep_forever, args=(stop,))
    sweeper.start()
    try:
        deadline = time.monotonic() + 30
        while _members(db, project, segment_id) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        sweeper.join(timeout=30)
    assert not sweeper.is_alive()
    assert _members(db, project, segment_id) == set()
    assert _history(db, segment_id)[-1][1:] == ("exited", created + timedelta(days=7), "time")


def test_older_than_enters_when_the_value_ages_even_after_a_long_outage(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    worker = Worker(db, clock)
    created = {f"l{i}@x.test": T0 - timedelta(days=29, hours=i) for i in range(1, 4)}
    upsert_leads(
        db,
        project,
        enumerate({"email": e, "created_at": c.isoformat()} for e, c in created.items()),
        clock=clock,
    )
    segment_id = _segment(
        db, project, {"field": "created_at", "op": "older_than", "value": 30}, clock
    )
    worker.drain()
    assert _members(db, project, segment_id) == set()

    clock.advance(timedelta(days=3))  # no worker ran meanwhile: one sweep covers it all
    worker.sweep_time()

    ids = _lead_ids(db, project)
    expected = {(ids[e], "entered", c + timedelta(days=30), "time") for e, c in created.items()}
    assert set(_history(db, segment_id)) == expected
    assert _members(db, project, segment_id) == set(ids.values())


def test_leaving_an_event_window_is_stamped_when_the_third_latest_event_leaves(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    worker = Worker(db, clock)
    upsert_leads(db, project, enumerate([{"email": "a@x.test"}]), clock=clock)
    views = [T0 - timedelta(days=d, hours=3) for d in (1, 4, 9, 20, 25)]
    ingest_events(
        db,
        project,
        enumerate(
            {"email": "a@x.test", "type": "page_view", "occurred_at": v.isoformat()} for v in views
        ),
        clock=clock,
    )
    tree = {"event": "page_view", "min_count": 3, "within_days": 30}
    segment_id = _segment(db, project, tree, clock)
    worker.drain()
    lead_id = _lead_ids(db, project)["a@x.test"]
    assert _members(db, project, segment_id) == {lead_id}

    clock.advance(timedelta(days=20))  # the 25- and 20-day-old views leave; 3 views remain
    worker.sweep_time()
    assert _members(db, project, segment_id) == {lead_id}
    clock.advance(timedelta(days=2))  # the third-latest (9 days old at T0) leaves at T0 + 21d
    worker.sweep_time()

    third_latest = views[2]
    assert _history(db, segment_id)[-1] == (
        lead_id,
        "exited",
        third_latest + timedelta(days=30),
        "time",
    )


def test_a_band_in_the_past_is_entered_and_left_at_its_two_edges(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    """ "Did it 30-60 days ago": a purchase enters the band at occurred + 30 days and leaves it
    at occurred + 60 days, each stamped at that instant."""
    worker = Worker(db, clock)
    upsert_leads(db, project, enumerate([{"email": "a@x.test"}]), clock=clock)
    bought = T0 - timedelta(days=20, hours=5)
    event = {"email": "a@x.test", "type": "purchase", "occurred_at": bought.isoformat()}
    ingest_events(db, project, enumerate([event]), clock=clock)
    tree = {"event": "purchase", "within_days": 60, "older_than_days": 30}
    segment_id = _segment(db, project, tree, clock)
    worker.drain()
    lead_id = _lead_ids(db, project)["a@x.test"]
    assert _members(db, project, segment_id) == set()

    clock.advance(timedelta(days=11))
    worker.sweep_time()
    assert _history(db, segment_id)[-1] == (lead_id, "entered", bought + timedelta(days=30), "time")
    clock.advance(timedelta(days=30))
    worker.sweep_time()
    assert _history(db, segment_id)[-1] == (lead_id, "exited", bought + timedelta(days=60), "time")
    assert _members(db, project, segment_id) == set()


def test_distinct_event_types_leave_when_a_type_leaves_the_window(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    worker = Worker(db, clock)
    upsert_leads(db, project, enumerate([{"email": "a@x.test"}]), clock=clock)
    webinar, demo = T0 - timedelta(days=3, hours=2), T0 - timedelta(days=1)
    events = [
        {"email": "a@x.test", "type": "webinar", "occurred_at": webinar.isoformat()},
        {"email": "a@x.test", "type": "demo", "occurred_at": demo.isoformat()},
    ]
    ingest_events(db, project, enumerate(events), clock=clock)
    tree = {"distinct_events": 2, "within_days": 7, "types": ["webinar", "demo"]}
    segment_id = _segment(db, project, tree, clock)
    worker.drain()
    lead_id = _lead_ids(db, project)["a@x.test"]
    assert _members(db, project, segment_id) == {lead_id}

    clock.advance(timedelta(days=5))
    worker.sweep_time()
    assert _history(db, segment_id)[-1] == (lead_id, "exited", webinar + timedelta(days=7), "time")


def test_calendar_periods_flip_at_local_midnight(db: Engine, clock: FrozenClock) -> None:
    with db.begin() as conn:
        org_id = auth.create_organization(conn, "Zoned")
        auth.create_user(conn, org_id, "owner@zoned.test", "owner")
        project = create_project(conn, org_id, "zoned", timezone="America/New_York")
    zone = ZoneInfo("America/New_York")
    clock.set(datetime(2026, 11, 30, 20, 0, tzinfo=zone))
    worker = Worker(db, clock)
    created = datetime(2026, 11, 15, 9, 0, tzinfo=zone).astimezone(UTC).isoformat()
    upsert_leads(
        db, project, enumerate([{"email": "a@x.test", "created_at": created}]), clock=clock
    )
    segment_id = _segment(
        db, project, {"field": "created_at", "op": "in_period", "value": "this_month"}, clock
    )
    worker.drain()
    lead_id = _lead_ids(db, project)["a@x.test"]
    assert _members(db, project, segment_id) == {lead_id}

    clock.advance(timedelta(hours=4, seconds=20))  # 00:00:20 on 1 December in New York
    worker.sweep_time()

    midnight = datetime(2026, 12, 1, 0, 0, tzinfo=zone).astimezone(UTC)
    assert _history(db, segment_id)[-1] == (lead_id, "exited", midnight, "time")


def test_a_change_time_does_not_explain_is_left_to_the_write_that_caused_it(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    worker = Worker(db, clock)
    upsert_leads(db, project, enumerate([{"email": "a@x.test", "status": "new"}]), clock=clock)
    tree = {
        "and": [
            {"field": "status", "op": "eq", "value": "new"},
            {"field": "created_at", "op": "within_last", "value": 7},
        ]
    }
    segment_id = _segment(db, project, tree, clock)
    worker.drain()
    lead_id = _lead_ids(db, project)["a@x.test"]

    clock.advance(timedelta(minutes=1))
    upsert_leads(db, project, enumerate([{"email": "a@x.test", "status": "lost"}]), clock=clock)
    clock.advance(timedelta(seconds=15))
    worker.sweep_time()  # the write's outbox item is still queued
    assert _members(db, project, segment_id) == {lead_id}
    worker.drain()
    assert _history(db, segment_id)[-1][1:2] == ("exited",)
    assert _history(db, segment_id)[-1][3] == "lead_write"


def test_a_lead_written_between_a_sweeps_plan_and_its_settle_is_left_to_the_write(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    """A sweep is worked out without the segment's lock (`plan`), then applied under it
    (`settle`). A write moving the lead in between wins: the planned exit would contradict its
    data."""
    worker = Worker(db, clock)
    created = {"email": "a@x.test", "created_at": (T0 - timedelta(days=6)).isoformat()}
    upsert_leads(db, project, enumerate([created]), clock=clock)
    tree = {
        "or": [
            {"field": "created_at", "op": "within_last", "value": 7},
            {"field": "status", "op": "eq", "value": "qualified"},
        ]
    }
    segment_id = _segment(db, project, tree, clock)
    worker.drain()
    lead_id = _lead_ids(db, project)["a@x.test"]
    clock.advance(timedelta(days=2))
    with db.connect() as conn:
        planned = time_sweep.plan(conn, project, segment_id, clock.now())
    assert planned is not None and [f.change for f in planned.found] == ["exited"]

    won = {"email": "a@x.test", "status": "qualified"}
    upsert_leads(db, project, enumerate([won]), clock=clock)
    worker.drain()  # the write's sync: still a member, nothing to record
    with db.begin() as conn:
        assert time_sweep.settle(conn, project, planned, clock.now()) == membership.Changes()

    assert _members(db, project, segment_id) == {lead_id} == _live(db, project, segment_id, clock)
    assert [change for _, change, _, _ in _history(db, segment_id)] == ["entered"]


def test_a_writes_sync_does_not_wait_for_a_sweep_being_worked_out(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    """Working out a sweep takes no lock: at a million leads it takes up to seconds, and the
    write-driven syncs of the segment (the one-second promise) must not queue behind it."""
    worker = Worker(db, clock, limits=WorkerLimits(lock_timeout=1.0))
    segment_id = _created_within_a_week(db, project, clock, T0 - timedelta(days=6))
    worker.drain()
    clock.advance(timedelta(days=2))
    with db.connect() as conn, conn.begin():  # the sweep's transaction, still open
        planned = time_sweep.plan(conn, project, segment_id, clock.now())
        upsert_leads(db, project, enumerate([{"email": "b@x.test"}]), clock=clock)
        assert worker.drain() == 1
        assert _lead_ids(db, project)["b@x.test"] in _members(db, project, segment_id)
    with db.begin() as conn:
        assert time_sweep.settle(conn, project, planned, clock.now()).exited == 1
    assert _members(db, project, segment_id) == _live(db, project, segment_id, clock)


def test_a_plan_overtaken_by_another_sweep_is_dropped(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    worker = Worker(db, clock)
    segment_id = _created_within_a_week(db, project, clock, T0 - timedelta(days=6))
    worker.drain()
    clock.advance(timedelta(days=2))
    with db.connect() as conn:
        planned = time_sweep.plan(conn, project, segment_id, clock.now())
    assert worker.sweep_time().exited == 1
    with db.begin() as conn:  # its window was swept meanwhile: applying it again would repeat
        assert time_sweep.settle(conn, project, planned, clock.now()) == membership.Changes()
    assert [change for _, change, _, _ in _history(db, segment_id)] == ["entered", "exited"]


def test_unrelated_segments_are_swept_without_changes(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    worker = Worker(db, clock)
    upsert_leads(db, project, enumerate([{"email": "a@x.test", "status": "new"}]), clock=clock)
    segment_id = _segment(db, project, {"field": "status", "op": "eq", "value": "new"}, clock)
    worker.drain()
    clock.advance(timedelta(days=400))
    assert worker.sweep_time() == membership.Changes()
    assert len(_history(db, segment_id)) == 1


TIME_TREES = [
    {"field": "created_at", "op": "within_last", "value": 1},
    {
        "and": [
            {"field": "status", "op": "eq", "value": "new"},
            {"field": "created_at", "op": "older_than", "value": 2},
        ]
    },
    {"event": "page_view", "min_count": 2, "within_days": 1},
    {"not": {"event": "form_submit", "within_days": 2}},
    {"field": "created_at", "op": "in_period", "value": "today"},
    {
        "or": [
            {"field": "last_activity_at", "op": "within_last", "value": 0.5},
            {"field": "tags", "op": "has_any", "value": ["vip"]},
        ]
    },
    # conditions over time (contract 3b): a band in the past, distinct days, distinct types
    {"event": "page_view", "within_days": 2, "older_than_days": 1},
    {"event": "form_submit", "within_days": 2, "min_distinct_days": 2},
    {"distinct_events": 2, "within_days": 1},
    # A sequence expires when its first step leaves since_days (within_days never moves).
    {
        "sequence": [{"event": "page_view"}, {"event": "form_submit"}],
        "within_days": 1,
        "since_days": 1,
    },
    {"not": {"sequence": [{"event": "form_submit"}, {"event": "page_view"}], "since_days": 2}},
    # not_between adds no instant of its own: its starts are since_days' first-step events.
    {
        "sequence": [{"event": "page_view"}, {"event": "page_view"}],
        "since_days": 1,
        "not_between": {"event": "form_submit"},
    },
]


def test_maintained_membership_equals_live_as_time_passes(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    """Random writes, events, filter edits, (de)activations and clock moves: after each drain
    and sweep, every segment's maintained membership is its live evaluation, and history
    replays to it."""
    rng = random.Random(11)
    worker = Worker(db, clock)
    statuses = list(project.statuses)
    segment_ids = [_segment(db, project, tree, clock) for tree in TIME_TREES]
    owner = _owner(db, project)
    worker.drain()
    emails: list[str] = []
    for step in range(48):
        action = rng.randrange(6)
        if action == 0:
            new = [f"l{len(emails) + i}@x.test" for i in range(3)]
            emails += new
            records = [
                {
                    "email": e,
                    "status": rng.choice(statuses),
                    "tags": rng.choice([[], ["vip"]]),
                    "created_at": (clock.now() - timedelta(hours=rng.randrange(80))).isoformat(),
                }
                for e in new
            ]
            upsert_leads(db, project, enumerate(records), clock=clock)
        elif action == 1 and emails:
            events = [
                {
                    "email": rng.choice(emails),
                    "type": rng.choice(["page_view", "form_submit"]),
                    "occurred_at": (clock.now() - timedelta(hours=rng.randrange(30))).isoformat(),
                }
                for _ in range(4)
            ]
            ingest_events(db, project, enumerate(events), clock=clock)
        elif action == 2 and emails:
            update = {"email": rng.choice(emails), "status": rng.choice(statuses)}
            upsert_leads(db, project, enumerate([update]), clock=clock)
        elif action in (3, 4):
            change = (
                {"filter": rng.choice(TIME_TREES)}
                if action == 3
                else {"active": rng.random() < 0.6}
            )
            with db.begin() as conn:
                segments.update_segment(
                    conn, project, owner, rng.choice(segment_ids), change, clock
                )
        else:
            clock.advance(timedelta(hours=rng.randrange(1, 20), seconds=rng.randrange(60)))
            worker.sweep_time()
        worker.drain()
        if step % 4 == 0:
            worker.sweep_time()
            _assert_consistent(db, project, segment_ids, clock)
    worker.drain()
    worker.sweep_time()
    _assert_consistent(db, project, segment_ids, clock)


def _assert_consistent(
    db: Engine, project: Project, segment_ids: list[int], clock: FrozenClock
) -> None:
    for segment_id in segment_ids:
        members = _members(db, project, segment_id)
        assert members == _live(db, project, segment_id, clock), segment_id
        replayed: set[int] = set()
        for lead_id, change, _, _ in _history(db, segment_id):
            assert (change == "entered") == (lead_id not in replayed), "history out of order"
            (replayed.add if change == "entered" else replayed.discard)(lead_id)
        assert replayed == members


def test_history_pages_in_the_order_changes_happened(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    """A sweep stamps rows with earlier instants than rows written before it: pages follow
    `at`, not insertion order."""
    from segmint.engine import history

    worker = Worker(db, clock)
    old = (T0 - timedelta(days=29, hours=20)).isoformat()
    upsert_leads(db, project, enumerate([{"email": "old@x.test", "created_at": old}]), clock=clock)
    segment_id = _segment(
        db, project, {"field": "created_at", "op": "older_than", "value": 30}, clock
    )
    worker.drain()
    clock.advance(timedelta(days=1))
    upsert_leads(
        db,
        project,
        enumerate([{"email": "older@x.test", "created_at": (T0 - timedelta(days=90)).isoformat()}]),
        clock=clock,
    )
    worker.drain()  # "older" enters now; "old" entered by time 20 hours ago, recorded next
    worker.sweep_time()

    pages, after = [], None
    with db.connect() as conn:
        while True:
            page = history.segment_history(conn, project, segment_id, after=after, limit=1)
            if not page:
                break
            pages += page
            after = page[-1]["id"]
        newest_first = history.lead_history(conn, project, pages[0]["lead_id"], limit=5)
    ids = _lead_ids(db, project)
    assert [p["lead_id"] for p in pages] == [ids["old@x.test"], ids["older@x.test"]]
    assert pages[0]["at"] < pages[1]["at"] and pages[0]["id"] > pages[1]["id"]
    assert [row["id"] for row in newest_first] == [pages[0]["id"]]


def test_a_sequence_exits_when_its_first_step_leaves_since_days(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    worker = Worker(db, clock)
    upsert_leads(db, project, enumerate([{"email": "a@x.test"}]), clock=clock)
    signups = [T0 - timedelta(days=6, hours=2), T0 - timedelta(days=3, hours=5)]
    call = T0 - timedelta(days=1)
    rows = [{"email": "a@x.test", "type": "signup", "occurred_at": s.isoformat()} for s in signups]
    rows.append({"email": "a@x.test", "type": "api_call", "occurred_at": call.isoformat()})
    ingest_events(db, project, enumerate(rows), clock=clock)
    tree = {"sequence": [{"event": "signup"}, {"event": "api_call"}], "since_days": 7}
    segment_id = _segment(db, project, tree, clock)
    worker.drain()
    lead_id = _lead_ids(db, project)["a@x.test"]
    assert _members(db, project, segment_id) == {lead_id}

    clock.advance(timedelta(days=2))  # the first signup has left; the second still starts it
    worker.sweep_time()
    assert _members(db, project, segment_id) == {lead_id}
    clock.advance(timedelta(days=3))
    worker.sweep_time()

    assert _members(db, project, segment_id) == set()
    assert _history(db, segment_id)[-1] == (
        lead_id,
        "exited",
        signups[1] + timedelta(days=7),
        "time",
    )


def test_a_sequence_without_an_event_between_exits_when_its_clean_start_leaves_since_days(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    """signup, api_call, signup, cancel, api_call: only the first start's span is clean, so the
    lead leaves when the first signup leaves since_days (not when the second does, as it would
    without not_between); the sweep stamps that instant."""
    worker = Worker(db, clock)
    upsert_leads(db, project, enumerate([{"email": "a@x.test"}]), clock=clock)
    day = timedelta(days=1)
    timeline = [
        ("signup", T0 - 6 * day), ("api_call", T0 - 5 * day), ("signup", T0 - 4 * day),
        ("cancel", T0 - 3 * day), ("api_call", T0 - 2 * day),
    ]  # fmt: skip
    rows = [{"email": "a@x.test", "type": t, "occurred_at": at.isoformat()} for t, at in timeline]
    ingest_events(db, project, enumerate(rows), clock=clock)
    tree = {
        "sequence": [{"event": "signup"}, {"event": "api_call"}],
        "since_days": 7,
        "not_between": {"event": "cancel"},
    }
    segment_id = _segment(db, project, tree, clock)
    worker.drain()
    lead_id = _lead_ids(db, project)["a@x.test"]
    assert _members(db, project, segment_id) == {lead_id}

    clock.advance(2 * day)
    worker.sweep_time()

    assert _members(db, project, segment_id) == set()
    assert _history(db, segment_id)[-1] == (lead_id, "exited", T0 + day, "time")
