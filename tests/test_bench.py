"""`segmint bench` on a small data set: the command works end to end on both databases, the data
is reproducible and reused, and the hand-written statements (PostgreSQL, and DuckDB over the
Parquet export) count what Segmint counts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from segmint.bench import data, duckdb_side
from segmint.bench import runner as bench_runner
from segmint.bench.suite import CASES, LISTED
from segmint.cli import app
from segmint.clock import SYSTEM_CLOCK
from segmint.engine import filtering
from segmint.engine import segments as segments_engine
from segmint.projects import Project
from segmint.store.tables import (
    events,
    leads,
    membership_history,
    segment_members,
    segments,
    work_items,
)

runner = CliRunner()
TENURE = "time in segment: entered pattern 1 within 30 days"
OPERATIONS = {"count", "preview", "page 1", "page 1000", "export"}
LISTING_OPERATIONS = {
    f"page {page} by {key}"
    for page in (1, 1000)
    for key in ("-created_at", "name", "email", "company", "job_title", "status", "source")
}


@pytest.fixture(autouse=True)
def _cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parquet exports go to the test's own cache, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _bench(db_url: str, *extra: str) -> dict[str, Any]:
    args = ["bench", "--leads", "400", "--events", "3000", "--repeat", "1", "--json", *extra]
    result = runner.invoke(app, [*args, "--database-url", db_url])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


PAGES = (
    "UI segments page",
    "UI segment page",
    "UI segment editor",
    "UI builder live count",
    "UI leads page",
    "UI lead page",
    "UI scoring page",
    "UI lists page",
)


def test_the_suite_runs_and_reports_every_operation(db_url: str, db: Engine) -> None:
    report = _bench(db_url, "--ingest-seconds", "1", "--rate", "300")

    assert report["data_generated"] is True
    assert {(r["case"], r["operation"]) for r in report["results"]} == {
        (case.name, op) for case in CASES for op in OPERATIONS
    } | {
        (listing, op)
        for listing in ("leads page", "leads page, search 'son'")
        for op in LISTING_OPERATIONS
    } | {
        (f"segments list ({len(CASES) + len(LISTED)} segments)", "counts"),
        ("overlap of 4 segments", "regions"),
        ("leads page, a new search each time", "page 1"),
    } | {(page, "page load") for page in PAGES}
    loads = {r["case"]: r for r in report["results"] if r["operation"] == "page load"}
    assert loads["UI segment page"]["rows"] == 7  # its calls, each answered 2xx
    assert all(r["median_ms"] > 0 and r["sql_path_median_ms"] > 0 for r in loads.values())
    counts = {r["case"]: r for r in report["results"] if r["operation"] == "count"}
    assert any(r["rows"] > 0 for r in counts.values())
    segmint_rows = {c: r["rows"] for c, r in counts.items()}
    if db.dialect.name == "postgresql":  # the hand-written statements answer the same question
        assert segmint_rows == {c: r["sql_rows"] for c, r in counts.items()}
    analysts = {case.name for case in CASES if case.duckdb_sql is not None}
    assert {c: n for c, n in segmint_rows.items() if c in analysts} == {
        c: r["duckdb_rows"] for c, r in counts.items() if c in analysts
    }  # so do DuckDB's, for every question its Parquet export can answer
    assert all(
        r["duckdb_median_ms"] > 0 and r["duckdb_ratio"] > 0
        for c, r in counts.items()
        if c in analysts
    )
    assert not any("duckdb_rows" in r for c, r in counts.items() if c not in analysts)
    # Time in segment names pattern 1's segment: resolved at run time, it counts its members.
    tenure = counts[TENURE]
    assert tenure["rows"] == counts["pattern 1: new enriched, ready for outreach"]["rows"] > 0
    assert report["duckdb"]["available"] is True and report["duckdb"]["parquet_exported"] is True
    assert report["duckdb"]["parquet_bytes"] > 0
    ingest = report["ingest"]
    assert ingest["lead_writes"] > 0 and ingest["worker_kept_up"] is True
    assert ingest["worker_engine"] == "index"  # the writes waited for the worker's index
    assert ingest["history_rows_measured"] > 0
    with db.connect() as conn:  # the ingest phase cleans up after itself
        assert conn.execute(sa.select(sa.func.count()).select_from(leads)).scalar() == 400
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 3000
        assert conn.execute(sa.select(sa.func.count()).select_from(work_items)).scalar() == 0
        orphans = sa.select(sa.func.count()).where(
            membership_history.c.lead_id.not_in(sa.select(leads.c.id))
        )
        assert conn.execute(orphans).scalar() == 0


def _measured(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in report["results"] if "note" not in r]  # not "fewer members"


def test_the_index_answers_what_the_sql_path_answers(db_url: str) -> None:
    report = _bench(db_url, "--ingest-seconds", "0", "--catch-up-writes", "50")

    index = report["index"]
    assert index["enabled"] is True and index["state"] == "ready"
    assert (index["leads"], index["events"]) == (400, 3000)
    assert index["build_seconds"] > 0 and index["rss_growth_bytes"] is not None
    for memory in (index["after_build"], index["after_suite"]):
        assert memory["bytes"] == memory["lead_side_bytes"] + memory["event_bytes"]
        assert memory["bytes_per_lead"] > 0 and memory["bytes_per_event"] > 0
    measured = _measured(report)
    assert measured and all(r["engine"] == "index" for r in measured)
    assert all(r["sql_path_median_ms"] > 0 for r in measured)
    # The first ask of each operation, before anything was kept for it, is reported apart.
    asked = [r for r in measured if r["operation"] in ("count", "preview", "export")]
    assert asked and all(r["first_ms"] > 0 for r in asked)
    # The same answers: counts, previews, page sizes, export lines, the segments' counts.
    assert {(r["case"], r["operation"]): r["rows"] for r in measured} == {
        (r["case"], r["operation"]): r["sql_path_rows"] for r in measured
    }
    assert any(r["rows"] > 0 for r in measured if r["operation"] == "count")
    catch_up = report["catch_up"]
    assert catch_up["engine"] == "index" and catch_up["includes_every_write"] is True
    assert catch_up["lead_writes"] == 50
    assert [r["warm_up"] for r in catch_up["rounds"]] == [True, False]  # the warm-up shown apart
    assert (
        catch_up["warm_up_count_after_writes_ms"] == catch_up["rounds"][0]["count_after_writes_ms"]
    )


def test_with_the_index_off_every_answer_is_sql(
    db_url: str, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGMINT_INDEX", "off")

    report = _bench(db_url, "--ingest-seconds", "0", "--catch-up-writes", "20")
    assert report["index"]["enabled"] is False
    measured = _measured(report)
    assert measured and {r["engine"] for r in measured} == {"sql"}
    assert all(r["sql_path_median_ms"] == r["median_ms"] for r in measured)
    assert report["catch_up"]["engine"] == "sql"
    assert report["catch_up"]["includes_every_write"] is True
    with db.connect() as conn:  # the catch-up's leads are gone again
        assert conn.execute(sa.select(sa.func.count()).select_from(leads)).scalar() == 400
    args = ["bench", "--leads", "400", "--events", "3000", "--repeat", "1", "--ingest-seconds", "0"]
    table = runner.invoke(app, [*args, "--case", "fast", "--database-url", db_url])
    assert table.exit_code == 0, table.output
    assert "index: off" in table.stdout


def test_the_same_sizes_and_seed_reuse_the_data(db_url: str) -> None:
    first = _bench(db_url, "--ingest-seconds", "0", "--case", "fast", "--case", "tags")
    again = _bench(db_url, "--ingest-seconds", "0", "--case", "fast", "--case", "tags")

    assert (first["data_generated"], again["data_generated"]) == (True, False)
    counts = [
        {r["case"]: r["rows"] for r in report["results"] if r["operation"] == "count"}
        for report in (first, again)
    ]
    assert counts[0] == counts[1]
    assert again["ingest"] is None
    assert again["duckdb"]["parquet_exported"] is False  # the same data's Parquet files too


def test_case_picks_suite_cases_by_name(db_url: str) -> None:
    report = _bench(db_url, "--ingest-seconds", "0", "--catch-up-writes", "0", "--case", "SEQUENCE")
    picked = {r["case"] for r in report["results"]}
    assert picked == {case.name for case in CASES if "sequence" in case.name}
    assert {r["operation"] for r in report["results"]} == set(OPERATIONS)  # no listings
    args = ["bench", "--leads", "400", "--events", "3000", "--case", "nothing like it"]
    refused = runner.invoke(app, [*args, "--database-url", db_url])
    assert refused.exit_code != 0
    assert "no suite case is named like 'nothing like it'" in refused.output


def test_the_parquet_files_are_kept_where_asked(db_url: str, tmp_path: Path) -> None:
    where = tmp_path / "parquet"
    report = _bench(db_url, "--ingest-seconds", "0", "--parquet-dir", str(where), "--case", "fast")

    assert Path(report["duckdb"]["parquet_leads"]).parent == where
    assert sorted(p.name.split(".", 1)[1] for p in where.iterdir()) == [
        "events.parquet",
        "leads.parquet",
    ]  # and no CSV or half-written file left behind


def test_without_duckdb_the_bench_says_so_and_skips_its_column(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)  # `import duckdb` raises ImportError

    report = _bench(db_url, "--ingest-seconds", "0", "--case", "fast")
    assert report["duckdb"] == {"available": False, "note": duckdb_side.NOT_INSTALLED}
    assert not any("duckdb_rows" in r for r in report["results"])
    args = ["bench", "--leads", "400", "--events", "3000", "--repeat", "1", "--ingest-seconds", "0"]
    table = runner.invoke(app, [*args, "--case", "fast", "--database-url", db_url])
    assert table.exit_code == 0, table.output
    assert "DuckDB is not installed" in table.stdout


# -- the statements themselves, on more data ------------------------------------------------------


def _every_count(
    engine: Engine, project: Project, directory: Path, now: datetime
) -> dict[str, tuple[int, int, int | None]]:
    """Per case: (Segmint's count, DuckDB's over a fresh export, PostgreSQL's hand-written)."""
    files = duckdb_side.export(engine, project, directory)
    counts: dict[str, tuple[int, int, int | None]] = {}
    with duckdb_side.DuckDbSide(files) as duck, engine.connect() as conn:
        ids = bench_runner.segment_ids(conn, project)
        for case in CASES:
            if case.duckdb_sql is None:  # reads maintained memberships: test_time_in_segment_...
                continue
            tree = filtering.validate(conn, project, case.filter_in(ids), reader=None)
            where = filtering.condition(conn, project, tree, now)
            reference = None
            if engine.dialect.name == "postgresql":
                params = case.params(project.id, now, ids)
                reference = conn.execute(sa.text(case.postgres_sql), params).scalar_one()
            counts[case.name] = (
                segments_engine.count_where(conn, project, where),
                duck.count(case.duckdb_sql, now),
                reference,
            )
    return counts


def _rewrite_text(engine: Engine, project: Project, change: Callable[[str], str]) -> None:
    """Apply `change` to every text value the suite compares case-insensitively: status, source,
    company, job title, the strings inside tags, enrichment and event metadata (not JSON keys)."""

    def deep(value: Any) -> Any:
        if isinstance(value, str):
            return change(value)
        if isinstance(value, list):
            return [deep(v) for v in value]
        if isinstance(value, dict):
            return {k: deep(v) for k, v in value.items()}
        return value

    text_columns = ("status", "source", "company", "job_title")
    lead_query = sa.select(
        leads.c.id, leads.c.tags, leads.c.enrichment, *map(leads.c.get, text_columns)
    )
    event_query = sa.select(events.c.id, events.c.metadata)
    with engine.begin() as conn:
        lead_rows = [
            {
                "b_id": row["id"],
                "b_tags": deep(row["tags"]),
                "b_enrichment": deep(row["enrichment"]),
                **{f"b_{c}": None if row[c] is None else change(row[c]) for c in text_columns},
            }
            for row in conn.execute(lead_query.where(leads.c.project_id == project.id)).mappings()
        ]
        values = {c: sa.bindparam(f"b_{c}") for c in ("tags", "enrichment", *text_columns)}
        conn.execute(
            leads.update().where(leads.c.id == sa.bindparam("b_id")).values(values), lead_rows
        )
        event_rows = [
            {"b_id": row["id"], "b_metadata": deep(row["metadata"])}
            for row in conn.execute(event_query.where(events.c.project_id == project.id)).mappings()
        ]
        conn.execute(
            events.update()
            .where(events.c.id == sa.bindparam("b_id"))
            .values(metadata=sa.bindparam("b_metadata")),
            event_rows,
        )


def test_the_duckdb_statements_count_what_segmint_counts(db: Engine, tmp_path: Path) -> None:
    now = SYSTEM_CLOCK.now()  # one instant for both rounds: windows must not move in between
    project, _ = data.prepare(db, data.BenchSize(3000, 20_000), now)

    counts = _every_count(db, project, tmp_path / "as generated", now)
    assert {name: (n, n) for name, (n, _, _) in counts.items()} == {
        name: (duck, n if sql is None else sql) for name, (n, duck, sql) in counts.items()
    }
    assert sum(1 for n, _, _ in counts.values() if n) >= len(counts) - 1  # not a match of zeros

    # Swapped case everywhere: Segmint's counts do not change, nor may DuckDB's.
    _rewrite_text(db, project, str.swapcase)
    swapped = _every_count(db, project, tmp_path / "swapped", now)
    assert {name: duck for name, (_, duck, _) in swapped.items()} == {
        name: n for name, (n, _, _) in counts.items()
    }
    assert {name: n for name, (n, _, _) in swapped.items()} == {
        name: n for name, (n, _, _) in counts.items()
    }


def test_explain_prints_both_plans_of_every_case(db_url: str) -> None:
    args = ["bench", "--leads", "300", "--events", "2000", "--explain", "--database-url", db_url]
    result = runner.invoke(app, args)
    if db_url.startswith("sqlite"):
        assert result.exit_code != 0
        assert "--explain reads PostgreSQL's plans" in result.output
        return
    assert result.exit_code == 0, result.output
    for case in CASES:
        assert f"== {case.name}\n-- Segmint\n" in result.output
    assert result.output.count("Execution Time:") == 2 * len(CASES)


def test_a_case_naming_a_segment_is_resolved_at_run_time(db: Engine) -> None:
    """Time in segment names pattern 1's segment: ensure_segments keeps it before the case that
    names it, the case's stored filter holds its id, and Segmint's count (both paths' SQL) is
    the hand-written one over segment_members: every member, entered within the day."""
    now = SYSTEM_CLOCK.now()
    project, _ = data.prepare(db, data.BenchSize(300, 1000), now)
    bench_runner.ensure_segments(db, project)
    bench_runner.drain(db)
    case = next(case for case in CASES if case.name == TENURE)
    assert case.segments_named == ("pattern 1: new enriched, ready for outreach",)
    with db.connect() as conn:
        ids = bench_runner.segment_ids(conn, project)
        source = ids[case.segments_named[0]]
        assert case.filter_in(ids) == {"in_segment": source, "entered_within_days": 30}
        stored = conn.execute(
            sa.select(segments.c.filter).where(segments.c.id == ids[TENURE])
        ).scalar_one()
        assert stored == case.filter_in(ids) and case.filter["in_segment"] != source
        members = conn.execute(
            sa.select(sa.func.count()).where(segment_members.c.segment_id == source)
        ).scalar_one()
        tree = filtering.validate(conn, project, case.filter_in(ids), reader=None)
        counted = segments_engine.count_where(
            conn, project, filtering.condition(conn, project, tree, SYSTEM_CLOCK.now())
        )
        assert counted == members > 0
        if db.dialect.name == "postgresql":
            params = case.params(project.id, SYSTEM_CLOCK.now(), ids)
            assert params["segment_id"] == source
            assert conn.execute(sa.text(case.postgres_sql), params).scalar_one() == members
