"""Durable work: the outbox commits with its write, a killed worker loses and repeats nothing,
several workers on PostgreSQL share the outbox without overlap, SQLite runs one worker."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.clock import SYSTEM_CLOCK, Clock, FrozenClock
from segmint.engine import membership, outbox
from segmint.engine import segments as segments_engine
from segmint.engine.accounts import create_account
from segmint.engine.leads import create_lead
from segmint.errors import Conflict
from segmint.ingest import upsert_leads
from segmint.model import Role
from segmint.projects import Project, create_project, get_project_by_id
from segmint.store.claims import holder_name
from segmint.store.tables import leads, membership_history, segments, users, work_items
from segmint.worker import outbox as taking
from segmint.worker.loop import Worker
from tests.processes import DEADLINE, Spawned, wait_until

NEW = {"field": "status", "op": "eq", "value": "new"}
SEGMENT_FILTERS: list[dict[str, Any]] = [
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


def _owner(db: Engine, project: Project) -> Principal:
    with db.connect() as conn:
        user_id = conn.execute(
            sa.select(users.c.id).where(users.c.organization_id == project.organization_id)
        ).scalar_one()
    return Principal(user_id, project.organization_id, "owner@acme.test", Role.OWNER, None)


def _create_segment(
    db: Engine, project: Project, tree: Any, clock: Clock, active: bool = True
) -> int:
    owner = _owner(db, project)
    with db.begin() as conn:
        data = {"name": f"S{time.monotonic_ns()}", "filter": tree, "active": active}
        return int(segments_engine.create_segment(conn, project, owner, data, clock).id)


def _pending(db: Engine) -> int:
    with db.connect() as conn:
        return taking.pending(conn)


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


def _item_ids(db: Engine) -> set[int]:
    with db.connect() as conn:
        return set(conn.execute(sa.select(work_items.c.id)).scalars())


def _items(db: Engine) -> list[outbox.WorkItem]:
    with db.connect() as conn:
        rows = conn.execute(sa.select(work_items).order_by(work_items.c.id))
        return [
            outbox.WorkItem(r.id, r.project_id, r.kind, r.payload, r.created_at, r.attempts)
            for r in rows
        ]


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
    names = {holder_name() for _ in range(20)}
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
    Taken over mid-work, an item was redone and the first worker's work thrown away; one
    whose work outlasted the lease was taken over again and again, and never done."""
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
        wait_until(lambda: _lock_waiters(db) >= 1, "the first worker to wait for the segment")
        clock.advance(timedelta(minutes=5))  # its lease has run out meanwhile
        with db.begin() as conn:
            taken = taking.claim(conn, "second", clock.now(), lease=timedelta(seconds=30))
        assert taken == []
    thread.join(timeout=DEADLINE)
    assert done == [1]
    assert _pending(db) == 0
    entered = _history(db, project)
    assert len(entered) == len(set(entered)) == len(_live(db, project, segment_id))


# --- the outbox commits with its write -------------------------------------------------------


def test_a_write_and_its_work_item_commit_or_roll_back_together(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    segment_id = _create_segment(db, project, NEW, clock)  # committed, with its item
    owner = _owner(db, project)
    with pytest.raises(RuntimeError), db.begin() as conn:
        create_lead(conn, project, {"email": "a@x.test"}, clock)
        segments_engine.update_segment(conn, project, owner, segment_id, {"active": False}, clock)
        raise RuntimeError("the request fails after its writes")
    with pytest.raises(Conflict), db.begin() as conn:
        create_lead(conn, project, {"email": "b@x.test"}, clock)
        create_lead(conn, project, {"email": "b@x.test"}, clock)  # refused: all rolled back
    assert [item.kind for item in _items(db)] == [outbox.Kind.SEGMENT]

    with db.begin() as conn:
        lead_id = create_lead(conn, project, {"email": "a@x.test"}, clock).id
    (item,) = [item for item in _items(db) if item.kind == outbox.Kind.LEADS]
    assert item.payload["lead_ids"] == [lead_id]


def test_an_import_batch_the_database_refuses_leaves_no_work_item(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    """The batch is rolled back with its work item; the rows retried alone get one each."""
    with db.begin() as conn:
        account = create_account(conn, project, {"name": "Engines", "metadata": {}}, clock)
    records = [{"email": f"lead{i}@x.test", "account_id": account.id} for i in range(5)]
    records += [{"email": "ghost@x.test", "account_id": 987654}]  # no such account
    records += [{"email": f"lead{i}@x.test"} for i in range(5, 9)]
    report = upsert_leads(db, project, enumerate(records), clock=clock)
    assert report.counts.created == 9 and report.failed == 1

    written = [item for item in _items(db) if item.kind == outbox.Kind.LEADS]  # (and the account's)
    named = [lead_id for item in written for lead_id in item.payload["lead_ids"]]
    with db.connect() as conn:
        stored = conn.execute(sa.select(leads.c.id).where(leads.c.project_id == project.id))
        assert sorted(named) == sorted(stored.scalars())  # each stored lead once, nothing else


def test_claims_from_two_connections_at_once_are_disjoint(db: Engine, project: Project) -> None:
    """FOR UPDATE SKIP LOCKED: a claim skips the items another claim has not committed yet."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite runs one worker")
    now = datetime.now(UTC)
    with db.begin() as conn:
        for list_id in range(10):
            outbox.enqueue(conn, project.id, outbox.Kind.LIST, {"list_id": list_id}, now)
    with db.connect() as one, db.connect() as two:
        first, second = one.begin(), two.begin()
        ones = taking.claim(one, "one", now, limit=6)
        twos = taking.claim(two, "two", now, limit=6)  # while the first claim is uncommitted
        first.commit()
        second.commit()
    assert len(ones) == 6 and len(twos) == 4
    assert not {i.id for i in ones} & {i.id for i in twos}
    with db.begin() as conn:
        assert taking.claim(conn, "three", now) == []  # all leased
        holders = dict(conn.execute(sa.select(work_items.c.id, work_items.c.claimed_by)).all())
    assert holders == {**{i.id: "one" for i in ones}, **{i.id: "two" for i in twos}}


# --- real worker processes -------------------------------------------------------------------


@pytest.fixture
def spawned(tmp_path: Path, db_url: str) -> Iterator[Spawned]:
    workers = Spawned(tmp_path, db_url)
    yield workers
    workers.close()


def _two_projects_with_segments(db: Engine, project: Project) -> dict[int, list[int]]:
    """Both projects' segments (active ones first; the last is inactive), with the segments'
    own syncs done: the outbox is empty."""
    with db.begin() as conn:
        other = create_project(conn, project.organization_id, "other")
    made: dict[int, list[int]] = {}
    for p in (project, other):
        made[p.id] = [_create_segment(db, p, tree, SYSTEM_CLOCK) for tree in SEGMENT_FILTERS]
        made[p.id].append(_create_segment(db, p, NEW, SYSTEM_CLOCK, active=False))
    Worker(db).drain()
    assert _pending(db) == 0
    return made


def _write_leads(db: Engine, made: dict[int, list[int]], writes: int, per_write: int) -> None:
    """`writes` lead writes to each project, alternating: one work item each, never grouped
    with its neighbours (another project's), so each is its own transaction."""
    projects = _projects(db, made)
    for i in range(writes):
        for p in projects:
            upsert_leads(db, p, enumerate(_records(per_write, start=i * per_write)))


def _projects(db: Engine, made: dict[int, list[int]]) -> list[Project]:
    with db.connect() as conn:
        return [get_project_by_id(conn, project_id) for project_id in made]


def _assert_each_change_recorded_once(db: Engine, made: dict[int, list[int]]) -> None:
    """Every active segment's maintained members are its live evaluation, each lead that
    entered has one history row saying so (leads here only ever enter), and no work is left."""
    assert _pending(db) == 0
    for p in _projects(db, made):
        history = Counter(_history(db, p))
        assert not [row for row, n in history.items() if n > 1], "duplicate history rows"
        *active, inactive = made[p.id]
        for segment_id in active:
            with db.connect() as conn:
                members = membership.member_ids(conn, p, segment_id)
            assert members == _live(db, p, segment_id)
            assert members  # the data puts leads in every segment
            assert {(s, lead, c) for s, lead, c in history if s == segment_id} == {
                (segment_id, lead_id, "entered") for lead_id in members
            }
        assert not [row for row in history if row[0] == inactive]


@contextmanager
def _frozen(db: Engine) -> Iterator[None]:
    """While inside, no worker commits anything: SQLite's write lock is taken; on PostgreSQL
    the work items are locked against changes, and this waits until a worker is stuck on
    that lock, its item's work done and uncommitted."""
    if db.dialect.name == "sqlite":
        path = db.url.database
        assert path
        lock = sqlite3.connect(path, timeout=DEADLINE, isolation_level=None)
        try:
            lock.execute("BEGIN IMMEDIATE")
            yield
        finally:
            lock.close()
        return
    with db.connect() as conn, conn.begin():
        conn.exec_driver_sql("LOCK TABLE work_items IN SHARE MODE")
        assert _pending(db) > 0, "the worker finished before it could be stopped mid-batch"
        wait_until(lambda: _lock_waiters(db) >= 1, "the worker to wait for the lock")
        yield


def test_a_worker_killed_mid_batch_loses_and_repeats_nothing(
    db: Engine, project: Project, spawned: Spawned
) -> None:
    made = _two_projects_with_segments(db, project)
    _write_leads(db, made, writes=6, per_write=20)
    assert len(_item_ids(db)) <= taking.BATCH  # one claim takes them all: any kill is mid-batch

    killed = spawned.start("--lease", "1")
    wait_until(lambda: bool(_history(db, project)), "the worker's first history rows")
    with _frozen(db):
        left = _items(db)
        assert left, "the worker finished before it could be stopped mid-batch"
        with db.connect() as conn:
            holders = set(conn.execute(sa.select(work_items.c.claimed_by)).scalars())
        assert len(holders) == 1 and None not in holders  # all claimed by the killed worker
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(timeout=DEADLINE) == -signal.SIGKILL

    fresh = spawned.start("--lease", "1")  # a killed worker's SQLite lock is gone with it
    spawned.wait_started(fresh)
    wait_until(lambda: _pending(db) == 0, "the fresh worker to take up what was left")
    spawned.stop(fresh)
    done = spawned.done(fresh)
    assert sorted(done) == [item.id for item in left]  # each left item once, after the lease
    _assert_each_change_recorded_once(db, made)


def test_several_workers_share_the_outbox_on_postgresql(
    db: Engine, project: Project, spawned: Spawned
) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite runs one worker")
    made = _two_projects_with_segments(db, project)
    _write_leads(db, made, writes=20, per_write=3)
    all_items = _item_ids(db)
    with db.connect() as gate, gate.begin():  # claims wait here, so three claim at once
        gate.exec_driver_sql("LOCK TABLE work_items IN SHARE MODE")
        workers = [spawned.start("--batch", "10") for _ in range(3)]
        wait_until(lambda: _lock_waiters(db) >= 3, "three workers to wait to claim")
    wait_until(lambda: _pending(db) == 0, "the workers to empty the outbox")
    for worker in workers:
        spawned.stop(worker)
    done = [spawned.done(worker) for worker in workers]
    assert all(done), "each worker did some of the work"
    everything = [item_id for ids in done for item_id in ids]
    assert sorted(everything) == sorted(all_items)  # each item exactly once
    _assert_each_change_recorded_once(db, made)


def test_sqlite_runs_one_worker(
    db: Engine, db_url: str, spawned: Spawned, caplog: pytest.LogCaptureFixture
) -> None:
    """A second worker on a SQLite database is refused, in-thread (`segmint serve`) or as
    `segmint worker`; PostgreSQL runs any number."""
    from typer.testing import CliRunner

    from segmint.cli import app
    from segmint.worker.loop import start_in_thread

    sqlite = db.dialect.name == "sqlite"
    running = spawned.start()
    spawned.wait_started(running)

    second = CliRunner().invoke(app, ["worker", "--once", "--database-url", db_url])
    assert second.exit_code == (1 if sqlite else 0), second.output
    assert ("SQLite runs one worker" in second.stderr) == sqlite

    before = set(threading.enumerate())
    stop = start_in_thread(db)
    started = [t for t in set(threading.enumerate()) - before if t.name == "segmint-worker"]
    stop.set()
    for thread in started:
        thread.join(timeout=DEADLINE)
    assert len(started) == (0 if sqlite else 1)
    assert ("this server runs no worker" in caplog.text) == sqlite

    spawned.stop(running)
    again = CliRunner().invoke(app, ["worker", "--once", "--database-url", db_url])
    assert again.exit_code == 0, again.output
