"""Time in segment: maintained membership stays exact. A lead enters "in S for at least N days"
the moment its membership of S is N days old, leaves "entered S within N days" at that moment,
and follows S in and out at the moment S changed, whatever changed it."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from segmint.clock import FrozenClock
from segmint.engine import segments
from segmint.errors import InvalidInput
from segmint.ingest import ingest_events, upsert_leads
from segmint.projects import Project
from segmint.worker.loop import Worker
from tests.engine.test_time_sweep import (
    T0,
    TIME_TREES,
    _assert_consistent,
    _history,
    _lead_ids,
    _members,
    _owner,
    _segment,
)

NEW = {"field": "status", "op": "eq", "value": "new"}


def _lead(db: Engine, project: Project, clock: FrozenClock, **values: Any) -> None:
    upsert_leads(db, project, enumerate([{"email": "a@x.test", **values}]), clock=clock)


def test_for_at_least_enters_when_the_membership_is_that_old(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    worker = Worker(db, clock)
    source = _segment(db, project, NEW, clock)
    _lead(db, project, clock, status="new")
    worker.drain()
    lead_id = _lead_ids(db, project)["a@x.test"]
    joined = clock.now()
    assert _members(db, project, source) == {lead_id}

    veteran = _segment(db, project, {"in_segment": source, "for_at_least_days": 14}, clock)
    worker.drain()
    assert _members(db, project, veteran) == set()

    clock.advance(timedelta(days=13))
    worker.sweep_time()
    assert _members(db, project, veteran) == set()
    clock.advance(timedelta(days=1, minutes=5))  # past the 14 days by a little
    worker.sweep_time()

    assert _members(db, project, veteran) == {lead_id}
    assert _history(db, veteran)[-1] == (lead_id, "entered", joined + timedelta(days=14), "time")


def test_entered_within_follows_a_write_at_once_and_leaves_when_it_is_that_old(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    worker = Worker(db, clock)
    source = _segment(db, project, NEW, clock)
    recent = _segment(db, project, {"in_segment": source, "entered_within_days": 7}, clock)
    _lead(db, project, clock, status="contacted")
    worker.drain()
    lead_id = _lead_ids(db, project)["a@x.test"]
    assert _members(db, project, recent) == set()

    clock.advance(timedelta(hours=5))
    _lead(db, project, clock, status="new")  # one write: S and then the segment reading it
    worker.drain()
    joined = clock.now()
    assert _members(db, project, source) == {lead_id}
    assert _members(db, project, recent) == {lead_id}
    assert _history(db, recent)[-1][:3] == (lead_id, "entered", joined)

    clock.advance(timedelta(days=7, minutes=5))
    worker.sweep_time()
    assert _members(db, project, recent) == set()
    assert _history(db, recent)[-1] == (lead_id, "exited", joined + timedelta(days=7), "time")


def test_a_time_based_exit_from_the_segment_is_followed_at_its_moment(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    """S loses the lead when its creation is 7 days old; the segment of S's recent entries
    loses it at that same instant, though its own window is 30 days."""
    worker = Worker(db, clock)
    created = T0 - timedelta(days=2, minutes=17)
    _lead(db, project, clock, created_at=created.isoformat())
    source = _segment(db, project, {"field": "created_at", "op": "within_last", "value": 7}, clock)
    recent = _segment(db, project, {"in_segment": source, "entered_within_days": 30}, clock)
    worker.drain()
    lead_id = _lead_ids(db, project)["a@x.test"]
    assert _members(db, project, recent) == {lead_id}

    clock.advance(timedelta(days=5, minutes=30))
    worker.sweep_time()

    assert _members(db, project, source) == set()
    assert _members(db, project, recent) == set()
    left = created + timedelta(days=7)
    assert _history(db, source)[-1] == (lead_id, "exited", left, "time")
    assert _history(db, recent)[-1] == (lead_id, "exited", left, "time")


def test_an_inactive_segment_is_refused_naming_the_path(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    with db.begin() as conn:
        data = {"name": "Frozen", "filter": NEW, "active": False}
        frozen = segments.create_segment(conn, project, _owner(db, project), data, clock).id
    tree = {"and": [NEW, {"in_segment": frozen, "for_at_least_days": 3}]}
    with pytest.raises(InvalidInput) as caught, db.begin() as conn:
        segments.create_segment(
            conn, project, _owner(db, project), {"name": "T", "filter": tree}, clock
        )
    assert caught.value.path == "filter.and[1].in_segment"
    assert "not active" in caught.value.message


def test_maintained_membership_equals_live_with_time_in_segment(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    """The invariant, with segments reading others' time in segment: random writes, events,
    edits of the segments read, (de)activations of the readers and clock moves; after each
    drain and sweep every maintained membership is its live evaluation and history replays
    to it."""
    rng = random.Random(23)
    worker = Worker(db, clock)
    statuses = list(project.statuses)
    read = [_segment(db, project, tree, clock) for tree in TIME_TREES[:3]]
    readers = [
        _segment(db, project, {"in_segment": read[0], "for_at_least_days": 1}, clock),
        _segment(db, project, {"in_segment": read[1], "entered_within_days": 1}, clock),
        _segment(
            db,
            project,
            {"or": [{"in_segment": read[2], "entered_within_days": 2}, NEW]},
            clock,
        ),
    ]
    # A reader of a reader: the chain is followed too.
    readers.append(
        _segment(db, project, {"in_segment": readers[0], "entered_within_days": 1}, clock)
    )
    segment_ids = [*read, *readers]
    owner = _owner(db, project)
    worker.drain()
    emails: list[str] = []
    for step in range(40):
        action = rng.randrange(6)
        if action == 0:
            new = [f"l{len(emails) + i}@x.test" for i in range(3)]
            emails += new
            records = [
                {
                    "email": e,
                    "status": rng.choice(statuses),
                    "created_at": (clock.now() - timedelta(hours=rng.randrange(80))).isoformat(),
                }
                for e in new
            ]
            upsert_leads(db, project, enumerate(records), clock=clock)
        elif action == 1 and emails:
            events = [
                {
                    "email": rng.choice(emails),
                    "type": "page_view",
                    "occurred_at": (clock.now() - timedelta(hours=rng.randrange(30))).isoformat(),
                }
                for _ in range(4)
            ]
            ingest_events(db, project, enumerate(events), clock=clock)
        elif action == 2 and emails:
            update = {"email": rng.choice(emails), "status": rng.choice(statuses)}
            upsert_leads(db, project, enumerate([update]), clock=clock)
        elif action == 3:
            with db.begin() as conn:
                change = {"filter": rng.choice(TIME_TREES)}
                segments.update_segment(conn, project, owner, rng.choice(read), change, clock)
        elif action == 4:
            with db.begin() as conn:
                change = {"active": rng.random() < 0.7}
                segments.update_segment(conn, project, owner, rng.choice(readers), change, clock)
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
    reasons = {reason for reader in readers for *_, reason in _history(db, reader)}
    assert {"time", "dependency"} <= reasons  # not vacuous: readers moved both ways
