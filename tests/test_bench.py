"""`segmint bench` on a small data set: the command works end to end on both databases, the data
is reproducible and reused, and the hand-written statements count what Segmint counts."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from segmint.bench.suite import CASES
from segmint.cli import app
from segmint.store.tables import events, leads, membership_history, work_items

runner = CliRunner()
OPERATIONS = {"count", "preview", "page 1", "page 1000", "export"}


def _bench(db_url: str, *extra: str) -> dict[str, Any]:
    args = ["bench", "--leads", "400", "--events", "3000", "--repeat", "1", "--json", *extra]
    result = runner.invoke(app, [*args, "--database-url", db_url])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_the_suite_runs_and_reports_every_operation(db_url: str, db: Engine) -> None:
    report = _bench(db_url, "--ingest-seconds", "1", "--rate", "300")

    assert report["data_generated"] is True
    assert {(r["case"], r["operation"]) for r in report["results"]} == {
        (case.name, op) for case in CASES for op in OPERATIONS
    }
    counts = {r["case"]: r for r in report["results"] if r["operation"] == "count"}
    assert any(r["rows"] > 0 for r in counts.values())
    if db.dialect.name == "postgresql":  # the hand-written statements answer the same question
        assert {c: r["rows"] for c, r in counts.items()} == {
            c: r["sql_rows"] for c, r in counts.items()
        }
    ingest = report["ingest"]
    assert ingest["lead_writes"] > 0 and ingest["worker_kept_up"] is True
    assert ingest["history_rows_measured"] > 0
    with db.connect() as conn:  # the ingest phase cleans up after itself
        assert conn.execute(sa.select(sa.func.count()).select_from(leads)).scalar() == 400
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 3000
        assert conn.execute(sa.select(sa.func.count()).select_from(work_items)).scalar() == 0
        orphans = sa.select(sa.func.count()).where(
            membership_history.c.lead_id.not_in(sa.select(leads.c.id))
        )
        assert conn.execute(orphans).scalar() == 0


def test_the_same_sizes_and_seed_reuse_the_data(db_url: str) -> None:
    first = _bench(db_url, "--ingest-seconds", "0")
    again = _bench(db_url, "--ingest-seconds", "0")

    assert (first["data_generated"], again["data_generated"]) == (True, False)
    counts = [
        {r["case"]: r["rows"] for r in report["results"] if r["operation"] == "count"}
        for report in (first, again)
    ]
    assert counts[0] == counts[1]
    assert again["ingest"] is None
