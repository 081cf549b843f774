"""Time in segment: maintained membership stays exact. A lead enters "in S for at least N days"
the moment its membership of S is N days old, leaves "entered S within N days" at that moment,
and follows S in and out at the moment S changed, whatever changed it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from segmint.clock import FrozenClock
from segmint.engine import segments
from segmint.errors import InvalidInput
from segmint.ingest import upsert_leads
from segmint.projects import Project
from segmint.worker.loop import Worker
from tests.engine.test_time_sweep import T0, _history, _lead_ids, _members, _owner, _segment

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
