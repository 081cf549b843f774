"""`segmint bench`: generate (or reuse) reproducible data, run the suite, print the numbers."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.engine import Engine

from segmint.bench import data, duckdb_side, runner
from segmint.bench import explain as bench_explain
from segmint.bench.suite import CASES, Case, cases_named
from segmint.cli.support import DatabaseUrl, err, friendly_errors
from segmint.clock import SYSTEM_CLOCK
from segmint.errors import InvalidInput
from segmint.index import detach
from segmint.store import migrate
from segmint.store.db import create_engine, database_url_from_env

# A report is wide: when piped (to a file, to CI logs) do not wrap it at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 160)


def bench(
    leads: Annotated[int, typer.Option(min=1, help="Leads to generate.")] = 100_000,
    events: Annotated[int, typer.Option(min=0, help="Events to generate.")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 42,
    repeat: Annotated[int, typer.Option(min=1, help="Timed runs per operation.")] = 5,
    ingest_seconds: Annotated[
        float, typer.Option(min=0, help="Seconds of lead writes, then of events (0: skip).")
    ] = 10.0,
    rate: Annotated[int, typer.Option(min=1, help="Target lead writes a second.")] = 2000,
    catch_up_writes: Annotated[
        int,
        typer.Option(
            min=0,
            help="Lead writes committed before timing the count that must include them (0: skip).",
        ),
    ] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    parquet_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the Parquet export for DuckDB is kept "
            "(default: $XDG_CACHE_HOME/segmint/bench, else ~/.cache/segmint/bench)."
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Print EXPLAIN (ANALYZE, BUFFERS) of each case's count, Segmint's and the "
            "hand-written one, instead of timing (PostgreSQL).",
        ),
    ] = False,
    case: Annotated[
        list[str] | None,
        typer.Option(
            "--case",
            help="Only the suite cases whose name contains this (repeatable; e.g. --case fast "
            "--case sequence): their counts, previews, pages and exports, without the leads "
            "pages, segments list, overlap and page loads.",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Measure counts, previews, pages, exports and maintained membership on generated data."""
    engine = create_engine(database_url or database_url_from_env(), pool_size=4)
    size = data.BenchSize(leads, events, seed)
    if explain:
        try:
            with friendly_errors():
                _print_plans(engine, size)
        finally:
            engine.dispose()
        return
    directory = parquet_dir or duckdb_side.default_directory()
    try:
        with friendly_errors():
            cases = cases_named(case or [])  # a name that matches nothing, before any data
            report = _run(
                engine, size, repeat, ingest_seconds, rate, catch_up_writes, directory, cases
            )
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    heading = (
        f"segmint bench: {leads:,} leads, {events:,} events on {report['database']} "
        f"(median and p95 of {repeat} runs after a first, untimed in them: 'first ms')"
    )
    out.print(_table(heading, report["results"]))
    out.print(escape(_duckdb_line(report["duckdb"])))  # a path is not markup either
    out.print(_index_line(report["index"]))
    if report["catch_up"]:
        out.print(_catch_up_line(report["catch_up"]))
    if report["ingest"]:
        out.print(_ingest_line(report["ingest"]))
    out.print(
        f"data {report['data_seconds']}s "
        f"({'generated' if report['data_generated'] else 'reused'}); maintained memberships "
        f"of {len(CASES)} segments built in {report['membership_build_seconds']}s"
    )


def _print_plans(engine: Engine, size: data.BenchSize) -> None:
    if engine.dialect.name != "postgresql":
        raise InvalidInput("--explain reads PostgreSQL's plans", "--database-url")
    migrate.upgrade(engine)
    project, _ = data.prepare(engine, size, SYSTEM_CLOCK.now())
    runner.ensure_segments(engine, project)  # a case may read another's maintained members
    runner.drain(engine)
    for name, ours, theirs in bench_explain.plans(engine, project):
        typer.echo(f"== {name}\n-- Segmint\n{ours}\n-- hand-written\n{theirs}\n")


def _run(
    engine: Engine,
    size: data.BenchSize,
    repeat: int,
    ingest_seconds: float,
    rate: int,
    catch_up_writes: int,
    parquet_dir: Path,
    cases: tuple[Case, ...] = CASES,
) -> dict[str, Any]:
    migrate.upgrade(engine)
    started = time.monotonic()
    with _bar(size.leads) as bar:
        task = bar.add_task(f"data {size.slug}", total=size.leads)
        project, made = data.prepare(
            engine, size, SYSTEM_CLOCK.now(), lambda n: bar.advance(task, n)
        )
    generated_s = time.monotonic() - started
    err.print(f"data: {'generated' if made else 'reused'} in {generated_s:.1f}s")
    runner.ensure_segments(engine, project)
    err.print("building the maintained memberships of the suite's segments ...")
    build_started = time.monotonic()
    drained = runner.drain(engine)
    build_s = time.monotonic() - build_started
    data.analyze(engine, "segment_members", "membership_history")
    duckdb: duckdb_side.DuckDbSide | None = None
    if duckdb_side.available():
        err.print(f"exporting the data to Parquet for DuckDB (in {parquet_dir}) ...")
        files = duckdb_side.export(engine, project, parquet_dir)
        err.print(f"parquet: {'exported' if files.exported else 'reused'} in {files.seconds:.1f}s")
        duckdb_report = files.as_dict()
        duckdb = duckdb_side.DuckDbSide(files)
    else:
        err.print(f"note: {duckdb_side.NOT_INSTALLED}")
        duckdb_report = {"available": False, "note": duckdb_side.NOT_INSTALLED}
    # The index's side is a second engine over the same database with this process's index
    # attached; the first never has one, so its answers take Segmint's SQL path.
    sides = runner.Sides(engine, create_engine(engine.url, pool_size=4))
    try:
        err.print("building the columnar index ...")
        index_report = runner.build_index(sides, project)
        err.print(_index_line(index_report))
        try:
            steps = len(cases) + (1 if cases == CASES else 0)  # and the listings after them
            with _bar(steps) as bar:
                task = bar.add_task("queries", total=steps)
                timings = runner.run_suite(
                    sides, project, repeat, lambda _: bar.advance(task), duckdb, cases
                )
        finally:
            if duckdb is not None:
                duckdb.close()
        built = runner.current_index(sides, project)
        if built is not None:  # what answering the suite added: JSON paths, sort orders
            index_report["after_suite"] = runner.index_memory(built)
        catch_up = None
        if catch_up_writes:
            err.print(f"catch-up: {catch_up_writes:,} lead writes, then a count ...")
            catch_up = runner.run_catch_up(sides, project, catch_up_writes, min(repeat, 3))
    finally:
        if sides.indexed is not None:
            detach(sides.indexed)
            sides.indexed.dispose()
    ingest = runner.run_ingest(engine, project, ingest_seconds, rate) if ingest_seconds else None
    return {
        "database": engine.dialect.name,
        "leads": size.leads,
        "events": size.events,
        "seed": size.seed,
        "repeat": repeat,
        "data_generated": made,
        "data_seconds": round(generated_s, 1),
        "membership_build_seconds": round(build_s, 1),
        "membership_build_items": drained,
        "duckdb": duckdb_report,
        "index": index_report,
        "catch_up": catch_up.as_dict() if catch_up else None,
        "results": [t.as_dict() for t in timings],
        "ingest": ingest.as_dict() if ingest else None,
    }


def _bar(total: int) -> Progress:
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    return Progress(*columns, TimeRemainingColumn(), console=err, transient=True)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def _table(heading: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=heading)
    columns = (
        "case",
        "operation",
        "engine",
        "median ms",
        "p95 ms",
        "first ms",
        "rows",
        "rows/s",
        "SQL path ms",
        "faster",
        "hand SQL ms",
        "ratio",
        "DuckDB ms",
        "vs DuckDB",
    )
    for name in columns:
        table.add_column(name, justify="left" if name in ("case", "operation") else "right")
    for row in rows:
        skipped = row.get("note")
        table.add_row(
            escape(row["case"]),  # "tags has all [vip, enterprise]" is not markup
            row["operation"],
            "" if skipped else row["engine"],
            skipped or _ms(row["median_ms"]),
            "" if skipped else _ms(row["p95_ms"]),
            "" if skipped else _ms(row.get("first_ms")),
            "" if row["rows"] is None else f"{row['rows']:,}",
            f"{row['rows_per_s']:,}" if "rows_per_s" in row else "",
            "" if skipped else _ms(row.get("sql_path_median_ms")),
            f"{row['speedup']:,.1f}x" if "speedup" in row and not skipped else "",
            _ms(row.get("sql_median_ms")),
            f"{row['overhead']:.2f}x" if "overhead" in row else "",
            _ms(row.get("duckdb_median_ms")),
            f"{row['duckdb_ratio']:.2f}x" if "duckdb_ratio" in row else "",
        )
    return table


def _duckdb_line(duckdb: dict[str, Any]) -> str:
    if not duckdb["available"]:
        return f"duckdb: {duckdb['note']}"
    megabytes = duckdb["parquet_bytes"] / 1e6
    done = "exported" if duckdb["parquet_exported"] else "reused"
    directory = Path(duckdb["parquet_leads"]).parent
    return (
        f"duckdb {duckdb['version']}: Parquet {done} in {duckdb['parquet_seconds']}s "
        f"({megabytes:,.1f} MB in {directory}). SQL path: the same engine function with no "
        "index; faster: SQL path / engine; ratio: Segmint / hand-written SQL on this database; "
        "vs DuckDB: Segmint / DuckDB over the Parquet files (above 1: Segmint is slower)"
    )


def _index_line(index: dict[str, Any]) -> str:
    if not index.get("enabled"):
        return f"index: off ({index.get('note', '')})"
    if "after_build" not in index:
        return f"index: {index.get('state')} after {index['build_seconds']}s: {index.get('note')}"
    built = index["after_build"]
    line = (
        f"index: {index['leads']:,} leads and {index['events']:,} events built in "
        f"{index['build_seconds']}s; {built['bytes'] / 1e6:,.1f} MB ({built['bytes_per_lead']} "
        f"bytes a lead, {built['bytes_per_event']} an event); the process's RSS grew "
        f"{index['rss_growth_bytes'] / 1e6:,.0f} MB (its peak "
        f"{index['peak_rss_growth_bytes'] / 1e6:,.0f} MB past the one before)"
    )
    after = index.get("after_suite")
    if after:
        line += (
            f"; after the suite {after['bytes'] / 1e6:,.1f} MB ({after['bytes_per_lead']} a "
            f"lead, {after['bytes_per_event']} an event)"
        )
    return line


def _catch_up_line(catch_up: dict[str, Any]) -> str:
    return (
        f"catch-up: after {catch_up['lead_writes']:,} lead writes committed, the next count "
        f"({catch_up['engine']}) took median {catch_up['count_after_writes_median_ms']} ms, max "
        f"{catch_up['count_after_writes_max_ms']} ms (a count with nothing to catch up: "
        f"{catch_up['count_before_writes_median_ms']} ms; after deleting them: "
        f"{catch_up['count_after_deletes_median_ms']} ms); included every write: "
        f"{catch_up['includes_every_write']}"
    )


def _ingest_line(ingest: dict[str, Any]) -> str:
    return (
        f"ingest: {ingest['lead_writes']:,} lead writes at {ingest['lead_writes_per_s']:,}/s, "
        f"{ingest['events']:,} events at {ingest['events_per_s']:,}/s; write to history "
        f"p50 {ingest['write_to_history_p50_ms']} ms, p95 {ingest['write_to_history_p95_ms']} ms "
        f"over {ingest['history_rows_measured']:,} leads (worker kept up: "
        f"{ingest['worker_kept_up']}; it answered through {ingest['worker_engine']}, its index "
        f"built in {ingest['worker_index_seconds']} s first)"
    )
