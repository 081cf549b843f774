"""`segmint leads bulk` and `segmint leads actions` against a real database and a real worker,
on both backends."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from segmint.cli import app
from segmint.ingest import upsert_leads
from segmint.projects import Project
from segmint.store.tables import leads
from segmint.worker.loop import Worker

runner = CliRunner()


def _run(db_url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--database-url", db_url])
    return result.exit_code, result.stdout, result.stderr


def _seed(db: Engine, project: Project) -> None:
    records = [
        {"email": "ada@x.test", "status": "new", "tags": ["vip"]},
        {"email": "bob@x.test", "status": "contacted"},
        {"email": "cy@x.test", "status": "new"},
    ]
    upsert_leads(db, project, enumerate(records))


def _statuses(db: Engine) -> dict[str, str]:
    with db.connect() as conn:
        return dict(conn.execute(sa.select(leads.c.email, leads.c.status)).all())


@pytest.fixture
def running_worker(db: Engine) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=Worker(db).run_forever, args=(stop,), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


NEW = '{"field": "status", "op": "eq", "value": "new"}'


def test_an_action_is_asked_for_then_done_by_the_worker(
    db: Engine, db_url: str, project: Project
) -> None:
    _seed(db, project)
    code, out, err = _run(
        db_url, "leads", "bulk", "set-status", "qualified", "--filter", NEW, "--no-wait"
    )
    assert code == 0, err
    assert "set status, 2 leads" in err
    job_id = out.strip()
    assert _statuses(db)["ada@x.test"] == "new"  # asked for, not yet done
    Worker(db).drain()
    assert _statuses(db) == {
        "ada@x.test": "qualified",
        "bob@x.test": "contacted",
        "cy@x.test": "qualified",
    }
    code, out, _ = _run(db_url, "leads", "actions")
    assert code == 0
    line = next(line for line in out.splitlines() if f" {job_id} " in line)
    assert "set status" in line and "done" in line and "2/2" in line and "owner@acme.test" in line


def test_waiting_follows_the_progress_to_the_end(
    db: Engine, db_url: str, project: Project, running_worker: None
) -> None:
    _seed(db, project)
    code, _, err = _run(db_url, "leads", "bulk", "add-tags", "Webinar, vip", "--q", "x.test")
    assert code == 0, err
    assert "Done: 3 of 3 leads changed." in err
    with db.connect() as conn:
        tags = dict(conn.execute(sa.select(leads.c.email, leads.c.tags)).all())
    assert tags["ada@x.test"] == ["vip", "Webinar"] and tags["bob@x.test"] == ["Webinar", "vip"]


def test_deleting_needs_the_count_confirmed(
    db: Engine, db_url: str, project: Project, running_worker: None
) -> None:
    _seed(db, project)
    code, _, err = _run(db_url, "leads", "bulk", "delete", "--filter", NEW)
    assert code == 1
    assert "confirm: type the number of leads selected (2) to confirm" in err
    code, _, err = _run(db_url, "leads", "bulk", "delete", "--filter", NEW, "--confirm", "2")
    assert code == 0, err
    assert set(_statuses(db)) == {"bob@x.test"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("explode",), "unknown action 'explode'"),
        (("add-to-list", "abc"), "VALUE: expected a list id, got 'abc'"),
        (("set-status",), "VALUE: give the status as VALUE"),
        (("delete", "now"), "VALUE: delete takes no value"),
        (("set-status", "lost", "--ids", "1,x"), "--ids: expected lead ids separated by commas"),
        (("set-status", "lost", "--filter", "{"), "--filter: not valid JSON"),
    ],
)
def test_bad_asks_are_one_clear_line(
    db: Engine, db_url: str, project: Project, args: tuple[str, ...], message: str
) -> None:
    _seed(db, project)
    code, _, err = _run(db_url, "leads", "bulk", *args)
    assert code == 1
    assert message in err
