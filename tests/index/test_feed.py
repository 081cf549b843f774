"""The index catches up from the change feed exactly: every committed write once, nothing
uncommitted, and transactions that commit out of order are not lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.engine.filtering import StoredSegments
from segmint.filters import parse_filter
from segmint.index import Audience, ProjectIndex
from segmint.projects import Project
from segmint.store.tables import accounts, events, index_changes, leads, projects
from tests.filters.harness import LeadSpec, insert_leads, lead_row

NOW = datetime(2026, 1, 10, tzinfo=UTC)


def _count(db: Engine, index: ProjectIndex, project: Project, data: Any = None) -> int:
    """The count through a request's connection (as the API reads), and through a snapshot
    of the index's own (as the worker does), which must agree."""
    filters = () if data is None else (parse_filter(data, project),)
    counts = []
    for own_snapshot in (False, True):
        with db.connect() as conn:
            source = StoredSegments(conn, project.id)
            reading = index.reading(db) if own_snapshot else index.read_for(conn)
            with reading as reader:
                mask = reader.select(Audience(filters), project, NOW, source)
                counts.append(int(np.count_nonzero(mask)))
    assert counts[0] == counts[1], counts
    return counts[0]


def _insert_lead(conn: sa.Connection, project: Project, email: str) -> int:
    row = lead_row(project.id, {"email": email, "status": "new"})
    return int(conn.execute(leads.insert().values(row).returning(leads.c.id)).scalar_one())


def _change_id(conn: sa.Connection, lead_id: int) -> int:
    query = sa.select(sa.func.max(index_changes.c.id)).where(
        index_changes.c.kind == "lead", index_changes.c.object_id == lead_id
    )
    return int(conn.execute(query).scalar_one())


def test_transactions_that_commit_out_of_order_are_both_seen(db: Engine, project: Project) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its transactions commit in id order")
    index = ProjectIndex(project.id)
    index.build(db)
    with db.connect() as slow, db.connect() as fast:
        slow_transaction = slow.begin()
        first = _insert_lead(slow, project, "slow@x.test")  # takes the smaller change id
        with fast.begin():
            second = _insert_lead(fast, project, "fast@x.test")
        assert _count(db, index, project) == 1  # the fast one only: the slow one is uncommitted
        slow_transaction.commit()
        with db.connect() as conn:
            assert _change_id(conn, first) < _change_id(conn, second)
    # A mark at "the highest change id applied" would stand past the slow transaction's change
    # now and skip it for ever; the index remembers it was in progress.
    assert _count(db, index, project) == 2


def test_uncommitted_writes_are_never_applied(db: Engine, project: Project) -> None:
    index = ProjectIndex(project.id)
    index.build(db)
    with db.connect() as conn:
        transaction = conn.begin()
        _insert_lead(conn, project, "maybe@x.test")
        if db.dialect.name == "postgresql":  # SQLite's writer would block the index's read
            assert _count(db, index, project) == 0
        transaction.rollback()
    assert _count(db, index, project) == 0
    with db.begin() as conn:
        _insert_lead(conn, project, "sure@x.test")
    assert _count(db, index, project) == 1


def test_every_kind_of_change_is_caught_up(db: Engine, project: Project) -> None:
    """Leads, accounts, events, custom values and list members written after the build; then
    deleted leads and a deleted project vanish."""
    index = ProjectIndex(project.id)
    index.build(db)
    with db.begin() as conn:
        ids = insert_leads(
            conn,
            project.id,
            [
                LeadSpec(
                    {"custom": {"plan": "pro"}, "enrichment": {"size": 10}},
                    account={"name": "Big", "metadata": {"tier": "gold"}},
                    events=[{"type": "demo", "occurred_at": NOW - timedelta(days=1)}],
                    list_ids=[7],
                ),
                LeadSpec({"enrichment": {"size": 99}}),
            ],
        )
    gold = {"field": "account.metadata.tier", "op": "eq", "value": "gold"}
    demo = {"event": "demo", "within_days": 7}
    size = {"field": "enrichment.size", "op": "gt", "value": 50}
    assert _count(db, index, project, gold) == 1
    assert _count(db, index, project, demo) == 1
    assert _count(db, index, project, size) == 1
    assert _count(db, index, project, {"in_list": 7}) == 1
    with db.begin() as conn:  # paths already in the index are kept current by the catch-up
        conn.execute(accounts.update().values(metadata={"tier": "silver"}))
        conn.execute(leads.update().where(leads.c.id == ids[0]).values(enrichment={"size": 51}))
        row = {"project_id": project.id, "lead_id": ids[1], "type": "demo", "metadata": {}}
        conn.execute(events.insert().values(occurred_at=NOW, created_at=NOW, **row))
    assert _count(db, index, project, gold) == 0
    assert _count(db, index, project, size) == 2
    assert _count(db, index, project, demo) == 2
    index.events.merge()  # the tail sorted into the main part answers the same
    assert _count(db, index, project, demo) == 2
    with db.begin() as conn:
        conn.execute(leads.delete().where(leads.c.id == ids[1]))
    assert _count(db, index, project, demo) == 1
    assert _count(db, index, project, {"in_list": 7}) == 1
    with db.begin() as conn:
        conn.execute(projects.delete().where(projects.c.id == project.id))
    assert _count(db, index, project) == 0


def test_a_build_sees_one_moment(db: Engine, project: Project) -> None:
    """Rows committed while the build reads are left to the catch-up, never applied twice."""
    with db.begin() as conn:
        insert_leads(conn, project.id, [LeadSpec(events=[{"type": "demo", "occurred_at": NOW}])])
    index = ProjectIndex(project.id)
    index.build(db)
    with db.begin() as conn:
        lead_id = _insert_lead(conn, project, "later@x.test")
        row = {"project_id": project.id, "lead_id": lead_id, "type": "demo", "metadata": {}}
        conn.execute(events.insert().values(occurred_at=NOW, created_at=NOW, **row))
    for _ in range(2):  # a second catch-up finds nothing new: nothing counted twice
        assert _count(db, index, project, {"event": "demo", "min_count": 2}) == 0
        assert _count(db, index, project, {"event": "demo"}) == 2


def test_the_worker_forgets_changes_past_their_retention(db: Engine, project: Project) -> None:
    from segmint.clock import FrozenClock
    from segmint.index.feed import RETENTION
    from segmint.worker.loop import Worker

    with db.begin() as conn:
        _insert_lead(conn, project, "old@x.test")
        conn.execute(index_changes.update().values(recorded_at=NOW - RETENTION * 2))
        _insert_lead(conn, project, "new@x.test")
        conn.execute(
            index_changes.update()
            .where(index_changes.c.recorded_at > NOW - RETENTION)
            .values(recorded_at=NOW)
        )
    assert Worker(db, clock=FrozenClock(NOW)).sweep_changes() == 1
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(index_changes)).scalar() == 1


def test_a_connection_that_has_written_is_answered_from_a_snapshot_of_its_own(
    db: Engine, project: Project
) -> None:
    """The feed read itself tells that the request's transaction wrote (PostgreSQL); its
    uncommitted lead must not reach the index, which would keep it after a rollback."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite's writer would block the index's own snapshot")
    index = ProjectIndex(project.id)
    index.build(db)
    with db.connect() as conn:
        transaction = conn.begin()
        _insert_lead(conn, project, "maybe@x.test")
        with index.read_for(conn) as reader:
            assert int(np.count_nonzero(reader.select(Audience(()), project, NOW, None))) == 0
        transaction.rollback()
    assert _count(db, index, project) == 0
