"""A manual refresh of an inactive segment is the worker's full sync, on both databases and on
each of its paths (the index naming the matches, SQL evaluating the filter, and set-wise SQL for
a segment past what the index hands to the database): the same entries and exits, as history,
as an active twin of the segment gets."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.clock import FrozenClock
from segmint.engine import membership, segments
from segmint.engine.membership import Reason
from segmint.ingest import upsert_leads
from segmint.model import Role
from segmint.projects import Project
from segmint.store.tables import membership_history, segment_members, users

TREE = {
    "and": [
        {"field": "status", "op": "in", "value": ["new", "contacted"]},
        {"field": "engagement_score", "op": "gte", "value": 10},
    ]
}


def _owner(db: Engine, project: Project) -> Principal:
    with db.connect() as conn:
        user_id = conn.execute(sa.select(users.c.id)).scalar_one()
    return Principal(user_id, project.organization_id, "owner@acme.test", Role.OWNER, None)


def _write_leads(db: Engine, project: Project, seed: int, clock: FrozenClock) -> None:
    chance = random.Random(seed)
    rows = [
        {
            "email": f"l{i}@x.test",
            "status": chance.choice(["new", "contacted", "lost"]),
            "engagement_score": chance.choice([0, 5, 10, 40]),
        }
        for i in range(40)
    ]
    upsert_leads(db, project, enumerate(rows), clock=clock)


def _changes(db: Engine, segment_id: int) -> list[tuple[int, str]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(membership_history.c.lead_id, membership_history.c.change)
            .where(membership_history.c.segment_id == segment_id)
            .order_by(membership_history.c.lead_id, membership_history.c.id)
        )
        return [(r.lead_id, r.change) for r in rows]


def _stored(db: Engine, segment_id: int) -> set[int]:
    with db.connect() as conn:
        query = sa.select(segment_members.c.lead_id).where(
            segment_members.c.segment_id == segment_id
        )
        return set(conn.execute(query).scalars())


@pytest.mark.parametrize("past_the_index", [False, True])
def test_a_refresh_records_what_a_full_sync_records(
    db: Engine,
    project: Project,
    clock: FrozenClock,
    index_mode: str,
    past_the_index: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if past_the_index:  # every segment is "large": the index may not hand its ids to SQL
        monkeypatch.setattr(membership, "INDEX_FULL_SYNC_IDS", 0)
    owner = _owner(db, project)
    _write_leads(db, project, 1, clock)
    with db.begin() as conn:
        data = {"name": "Twin", "filter": TREE}
        active = segments.create_segment(conn, project, owner, data, clock).id
        frozen = segments.create_segment(conn, project, owner, {**data, "active": False}, clock).id
    for seed in (1, 2, 3):  # the first fills, the next two move leads in and out
        if seed > 1:
            clock.advance(timedelta(minutes=5))
            _write_leads(db, project, seed, clock)
        with db.begin() as conn:
            membership.sync(conn, project, active, clock.now(), Reason.LEAD_WRITE)
            done = segments.refresh_segment(conn, project, owner, frozen, clock)
        assert _changes(db, frozen) == _changes(db, active)
        assert _stored(db, frozen) == _stored(db, active)
        assert done.member_count == len(_stored(db, frozen))
    assert _changes(db, frozen), "the leads never matched: the test compared nothing"
    with db.connect() as conn:
        row = segments.get_segment(conn, project, frozen)
    assert row.active is False and row.last_evaluated_at is not None
