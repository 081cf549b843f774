"""Background work is bounded: a worker statement that runs too long, or waits too long for a
lock, fails only its own project's step, which is retried later with backoff, while the other
projects' memberships go on advancing in the same run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.clock import FrozenClock
from segmint.ingest import upsert_leads
from segmint.projects import Project, create_project
from segmint.store.tables import segment_members
from segmint.store.timeouts import WorkerLimits
from segmint.worker.loop import Worker, taking_turns
from tests.engine.test_time_sweep import T0, _members, _segment

A_LEADS = 6000  # SQLite sweeps them in over a second here: far past the 0.25 s deadline
TIGHT = WorkerLimits(statement_timeout=0.25, lock_timeout=0.25)


def _week_old_leads(db: Engine, project: Project, clock: FrozenClock, count: int) -> int:
    """`count` leads created almost 7 days ago, and a segment of leads created in the last 7
    days: time alone makes them all exit soon."""
    created = (T0 - timedelta(days=6, hours=23)).isoformat()
    records = ({"email": f"l{i}@x.test", "created_at": created} for i in range(count))
    upsert_leads(db, project, enumerate(records), clock=clock)
    return _segment(db, project, {"field": "created_at", "op": "within_last", "value": 7}, clock)


@contextmanager
def _sweep_blocked(db: Engine, project: Project, segment_id: int) -> Iterator[None]:
    """On PostgreSQL, a member row of the segment locked by someone else: the sweep's delete
    waits for it past the lock timeout. SQLite has no row locks: there the sweep of its many
    leads outlasts the statement deadline."""
    if db.dialect.name != "postgresql":
        yield
        return
    with db.begin() as conn:
        conn.execute(
            sa.select(segment_members.c.lead_id)
            .where(
                segment_members.c.project_id == project.id,
                segment_members.c.segment_id == segment_id,
            )
            .limit(1)
            .with_for_update()
        ).first()
        yield


def test_a_failing_sweep_holds_up_no_other_project(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    worker = Worker(db, clock, limits=TIGHT)
    slow = _week_old_leads(db, project, clock, A_LEADS)
    worker.limits = WorkerLimits()  # the initial full syncs are not what is tested
    worker.drain()
    clock.advance(timedelta(minutes=1))  # the slow project's segment is the more overdue
    with db.begin() as conn:
        other = create_project(conn, project.organization_id, "other")
    quick = _week_old_leads(db, other, clock, 1)
    worker.drain()
    assert len(_members(db, project, slow)) == A_LEADS and len(_members(db, other, quick)) == 1

    clock.advance(timedelta(days=1))  # every lead of both has left the window
    worker.limits = TIGHT
    with _sweep_blocked(db, project, slow):
        changes = worker.sweep_time()
    assert _members(db, other, quick) == set()  # the other project advanced in the same run
    assert changes.exited == 1
    assert len(_members(db, project, slow)) == A_LEADS  # the failed sweep left nothing half-done

    worker.limits = WorkerLimits()
    clock.advance(timedelta(seconds=11))  # a sweep is due again, but the failed one backs off
    worker.sweep_time()
    assert len(_members(db, project, slow)) == A_LEADS
    clock.advance(timedelta(seconds=10))  # past its 20 s backoff: retried, and done
    assert worker.sweep_time().exited == A_LEADS
    assert _members(db, project, slow) == set()


def test_projects_take_turns_in_a_sweep() -> None:
    due = [(1, 10), (1, 11), (1, 12), (2, 20), (3, 30), (2, 21)]
    assert taking_turns(due) == [(1, 10), (2, 20), (3, 30), (1, 11), (2, 21), (1, 12)]
