"""Time in segment on the index: answered from the referenced segment's committed members and
their entered_at, and declined (SQL answers) for a transaction that changed that segment's
members itself, which the index cannot see (a sync pass writes a segment, then syncs its
readers in the same transaction)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from segmint.engine.filtering import StoredSegments
from segmint.filters.tree import SegmentTenure
from segmint.index import Audience, ProjectIndex
from segmint.index.evaluate import NotIndexed
from segmint.index.feed import snapshot
from segmint.projects import Project
from segmint.store.tables import segment_members
from tests.filters.harness import LeadSpec, add_segment, insert_leads

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _member(project: Project, segment_id: int, lead_id: int, days_ago: float) -> dict[str, object]:
    entered = NOW - timedelta(days=days_ago)
    return {"project_id": project.id, "segment_id": segment_id, "lead_id": lead_id,
            "entered_at": entered}  # fmt: skip


def test_tenure_is_answered_at_its_boundaries(db: Engine, project: Project) -> None:
    """At exactly D days a membership is "for at least D" and no longer "entered within D";
    one that begins after now did not exist then; a non-member is neither."""
    with db.begin() as conn:
        a, b, c, _d = insert_leads(conn, project.id, [LeadSpec({}) for _ in range(4)])
        add_segment(conn, project.id, 1, {"field": "status", "op": "is_null"})
        rows = [_member(project, 1, lead, days) for lead, days in ((a, 7), (b, 6.999), (c, -1))]
        conn.execute(segment_members.insert(), rows)
    index = ProjectIndex(project.id)
    with snapshot(db) as conn:
        index.load(conn)
    with db.connect() as conn, index.read_for(conn) as reader:
        source = StoredSegments(conn, project.id)

        def matched(at_least: bool) -> set[int]:
            audience = Audience((SegmentTenure(1, 7, at_least),))
            mask = reader.select(audience, project, NOW, source)
            return set(reader.ids(mask.nonzero()[0]))

        assert matched(True) == {a}
        assert matched(False) == {b}


def test_a_transaction_that_changed_the_members_is_declined(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        a, b = insert_leads(conn, project.id, [LeadSpec({}), LeadSpec({})])
        add_segment(conn, project.id, 1, {"field": "status", "op": "is_null"})
        add_segment(conn, project.id, 2, {"field": "status", "op": "is_null"})
        conn.execute(segment_members.insert(), [_member(project, 2, a, 9)])
    index = ProjectIndex(project.id)
    with snapshot(db) as conn:
        index.load(conn)
    with db.begin() as conn:
        conn.execute(segment_members.insert(), [_member(project, 1, b, 9)])  # not committed
        source = StoredSegments(conn, project.id)
        with index.read_for(conn) as reader:
            other = Audience((SegmentTenure(2, 7, True),))  # untouched: the index answers
            mask = reader.select(other, project, NOW, source)
            assert set(reader.ids(mask.nonzero()[0])) == {a}
            with pytest.raises(NotIndexed):
                reader.select(Audience((SegmentTenure(1, 7, True),)), project, NOW, source)
