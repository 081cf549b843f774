"""Durable work: the outbox commits with its write, a killed worker loses and repeats nothing,
several workers on PostgreSQL share the outbox without overlap, SQLite runs one worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.clock import Clock, FrozenClock
from segmint.engine import outbox
from segmint.engine import segments as segments_engine
from segmint.ingest import upsert_leads
from segmint.model import Role
from segmint.projects import Project
from segmint.store.tables import leads, membership_history, segments, users, work_items
from segmint.worker import Worker, worker_name

DEADLINE = 60.0  # seconds any wait may take before a test gives up: generous, never a measure
NEW = {"field": "status", "op": "eq", "value": "new"}
SEGMENT_FILTERS: list[dict[str, Any]] = [
    NEW,
    {"field": "tags", "op": "has_any", "value": ["vip"]},
    {
        "or": [
            {"field": "status", "op": "in", "value": ["new", "contacted"]},
            {"field": "tags", "op": "has_any", "value": ["x"]},
        ]
    },
    {"not": {"field": "status", "op": "eq", "value": "lost"}},
]


def _records(count: int, start: int = 0) -> list[dict[str, Any]]:
    """New leads, each in some of SEGMENT_FILTERS (deterministically)."""
    statuses = ["new", "contacted", "qualified", "lost"]
    tag_sets: list[list[str]] = [[], ["vip"], ["x"], ["vip", "x"]]
    return [
        {"email": f"lead{i}@x.test", "status": statuses[i % 4], "tags": tag_sets[i // 4 % 4]}
        for i in range(start, start + count)
    ]


def _create_segment(
    db: Engine, project: Project, tree: Any, clock: Clock, active: bool = True
) -> int:
    with db.begin() as conn:
        user_id = conn.execute(
            sa.select(users.c.id).where(users.c.organization_id == project.organization_id)
        ).scalar_one()
        owner = Principal(user_id, project.organization_id, "owner@acme.test", Role.OWNER, None)
        data = {"name": f"S{time.monotonic_ns()}", "filter": tree, "active": active}
        return int(segments_engine.create_segment(conn, project, owner, data, clock).id)


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)


def _pending(db: Engine) -> int:
    with db.connect() as conn:
        return outbox.pending(conn)


def _lock_waiters(db: Engine) -> int:
    """Sessions of this database waiting for a lock (PostgreSQL)."""
    with db.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def _history(db: Engine, project: Project) -> list[tuple[int, int, str]]:
    """(segment, lead, change) of every history row of the project."""
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(
                membership_history.c.segment_id,
                membership_history.c.lead_id,
                membership_history.c.change,
            ).where(membership_history.c.project_id == project.id)
        )
        return [(r.segment_id, r.lead_id, r.change) for r in rows]


def _live(db: Engine, project: Project, segment_id: int) -> set[int]:
    with db.connect() as conn:
        row = segments_engine.get_segment(conn, project, segment_id)
        where = segments_engine.segment_condition(conn, project, row, datetime.now(UTC))
        query = sa.select(leads.c.id).where(leads.c.project_id == project.id, where)
        return set(conn.execute(query).scalars())


def test_worker_names_fit_the_claim_column_whatever_the_host_name(
    db: Engine, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 63-character host name (a Kubernetes pod's may be) made every claim fail on
    PostgreSQL: the name did not fit `claimed_by`."""
    monkeypatch.setattr("socket.gethostname", lambda: "segmint-worker-" + "x" * 48)
    names = {worker_name() for _ in range(20)}
    assert len(names) == 20  # unique even in one process and thread
    assert max(len(n) for n in names) <= work_items.c.claimed_by.type.length
    with db.begin() as conn:
        outbox.enqueue(
            conn, project.id, outbox.Kind.LIST, {"list_id": 1, "lead_ids": []}, datetime.now(UTC)
        )
    assert Worker(db).drain() == 1
    with pytest.raises(ValueError):
        Worker(db, name="n" * 65)


# --- leases ----------------------------------------------------------------------------------


def test_an_item_worked_on_past_its_lease_is_not_taken_over(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    """The lease covers an item until its work starts; then the work's transaction holds it.
    An item taken over mid-work was done twice and the first worker's work thrown away; one
    whose work outlasts the lease was taken over again and again, and never done."""
    if db.dialect.name != "postgresql":
        pytest.skip("several workers share an outbox on PostgreSQL only")
    upsert_leads(db, project, enumerate(_records(10)), clock=clock)
    Worker(db, clock).drain()
    segment_id = _create_segment(db, project, NEW, clock)
    first = Worker(db, clock, lease=timedelta(seconds=30))
    with db.connect() as blocker, blocker.begin():  # first's sync waits for this segment lock
        blocker.execute(
            sa.select(segments.c.id).where(segments.c.id == segment_id).with_for_update()
        )
        done: list[int] = []
        thread = threading.Thread(target=lambda: done.append(first.run_once()))
        thread.start()
        _wait_until(lambda: _lock_waiters(db) >= 1, "the first worker to wait for the segment")
        clock.advance(timedelta(minutes=5))  # its lease has run out meanwhile
        with db.begin() as conn:
            taken = outbox.claim(conn, "second", clock.now(), lease=timedelta(seconds=30))
        assert taken == []
    thread.join(timeout=DEADLINE)
    assert done == [1]
    assert _pending(db) == 0
    entered = _history(db, project)
    assert len(entered) == len(set(entered)) == len(_live(db, project, segment_id))
