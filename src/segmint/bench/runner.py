"""Runs the suite through the same engine code the API uses and times it honestly.

Each operation runs once to warm caches (as a user's second look would find them), then
`repeat` times; the median and the 95th percentile are reported. Every operation (a count, a
preview, a page in some order, an export, the segments list with its counts) is the engine
function the API calls, run twice: on an engine with this process's columnar index attached
(and built before timing starts), and on one without, so the second takes Segmint's SQL path;
each result says who answered the first (`engine`) and what the second took. Counts are also
answered by the hand-written statement of each case (PostgreSQL), and the ratio of the two is
Segmint's overhead; and, when DuckDB is installed, by the case's DuckDB statement over the
project exported to Parquet, the ratio to which compares Segmint with an analyst's tool. The
catch-up phase commits lead writes and times the next count, which must include them. Ingest
writes new leads through the shared ingestion code at a target rate while a worker maintains
the suite's segments, then reports the delay from each write to its history row.
"""

from __future__ import annotations

import gc
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import demo
from segmint.auth import Principal
from segmint.bench import over_http, page_loads
from segmint.bench.duckdb_side import DuckDbSide
from segmint.bench.suite import CASES, LISTED, Case
from segmint.clock import SYSTEM_CLOCK, FrozenClock, as_utc
from segmint.engine import answering, filtering
from segmint.engine import export as export_engine
from segmint.engine import leads as leads_engine
from segmint.engine import overlap as overlap_engine
from segmint.engine import segments as segments_engine
from segmint.engine.membership import Reason
from segmint.engine.paging import Sort
from segmint.index import Audience, ProjectIndex, Settings, attach, detach, indexes_for
from segmint.ingest import ingest_events, upsert_leads
from segmint.model import Role
from segmint.projects import Project
from segmint.store.tables import leads, membership_history, segments, work_items
from segmint.worker.loop import Worker

T = TypeVar("T")
PER_PAGE = 50
DEEP_PAGE = 1000


@dataclass
class Timing:
    case: str
    operation: str
    samples_ms: list[float]
    rows: int | None = None
    engine: str = answering.SQL  # who answered the timed runs: the columnar index or SQL
    sql_path_ms: list[float] | None = None  # the same operation through Segmint with no index
    sql_path_rows: int | None = None
    reference_ms: list[float] | None = None  # the hand-written statement's times
    reference_rows: int | None = None
    duckdb_ms: list[float] | None = None  # DuckDB's times over the Parquet export
    duckdb_rows: int | None = None
    # The index side's untimed warm-up: the first ask of the operation in the run, before
    # anything was kept for it (a window's counts, a search's per-value answer)
    first_ms: float | None = None
    note: str = ""

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples_ms, 95)

    @property
    def overhead(self) -> float | None:
        if not self.reference_ms:
            return None
        return self.median_ms / max(statistics.median(self.reference_ms), 1e-6)

    @property
    def duckdb_ratio(self) -> float | None:
        if not self.duckdb_ms:
            return None
        return self.median_ms / max(statistics.median(self.duckdb_ms), 1e-6)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "case": self.case,
            "operation": self.operation,
            "engine": self.engine,
            "median_ms": round(self.median_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "rows": self.rows,
        }
        if self.first_ms is not None:
            data["first_ms"] = round(self.first_ms, 2)
        if self.sql_path_ms:
            sql_path = statistics.median(self.sql_path_ms)
            data["sql_path_median_ms"] = round(sql_path, 2)
            data["sql_path_rows"] = self.sql_path_rows
            data["speedup"] = round(sql_path / max(self.median_ms, 1e-6), 1)
        if self.operation == "export" and self.rows is not None:
            data["rows_per_s"] = round(self.rows / max(self.median_ms / 1000, 1e-9))
            if self.sql_path_ms:
                seconds = statistics.median(self.sql_path_ms) / 1000
                data["sql_path_rows_per_s"] = round(self.rows / max(seconds, 1e-9))
        if self.reference_ms:
            data["sql_median_ms"] = round(statistics.median(self.reference_ms), 2)
            data["sql_rows"] = self.reference_rows
            data["overhead"] = round(self.overhead or 0, 2)
        if self.duckdb_ms:
            data["duckdb_median_ms"] = round(statistics.median(self.duckdb_ms), 2)
            data["duckdb_rows"] = self.duckdb_rows
            data["duckdb_ratio"] = round(self.duckdb_ratio or 0, 2)
        if self.note:
            data["note"] = self.note
        return data


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (the value at or below which pct% of the samples fall)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def _timed(fn: Callable[[], T], repeat: int) -> tuple[list[float], T]:
    """`repeat` timings of `fn` after one untimed warm-up, and what it gave."""
    _, samples, result = _timed_from_first(fn, repeat)
    return samples, result


def _timed_from_first(fn: Callable[[], T], repeat: int) -> tuple[float, list[float], T]:
    """The warm-up's time (the first ask of the run: nothing kept for it yet), then `repeat`
    timings of `fn`, and what it gave."""
    start = time.perf_counter()
    result = fn()
    first = (time.perf_counter() - start) * 1000
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    return first, samples, result


# -- the two sides: the same engine functions with the columnar index and without ------------


@dataclass
class Sides:
    """Two engines over one database: `indexed` has this process's index attached (None when
    SEGMINT_INDEX=off or it could not be built), `plain` never has one, so its answers take
    Segmint's SQL path. Every operation runs through the functions the API calls, once on each."""

    plain: Engine
    indexed: Engine | None = None


# An operation: the engine function as the API calls it, on a connection; gives what it found
# (a number of rows) and who answered.
Operation = Callable[[sa.Connection], tuple[int, str]]


def _measure(sides: Sides, case: str, name: str, operation: Operation, repeat: int) -> Timing:
    """`operation` timed on the indexed side (when there is one) and on the SQL path."""
    with sides.plain.connect() as conn:
        sql_samples, (sql_rows, _) = _timed(lambda: operation(conn), repeat)
    if sides.indexed is None:
        return Timing(case, name, sql_samples, sql_rows, answering.SQL, sql_samples, sql_rows)
    with sides.indexed.connect() as conn:
        first, samples, (rows, engine_name) = _timed_from_first(lambda: operation(conn), repeat)
    timing = Timing(case, name, samples, rows, engine_name, sql_samples, sql_rows)
    timing.first_ms = first
    return timing


def run_suite(
    sides: Sides,
    project: Project,
    repeat: int,
    on_case: Callable[[str], None] | None = None,
    duckdb: DuckDbSide | None = None,
    cases: Sequence[Case] = CASES,
) -> list[Timing]:
    """Every case's operations, then the leads pages, the segments list, the overlap and the
    UI's page loads; with some `cases` only (`--case`), those cases' operations alone."""
    results: list[Timing] = []
    for case in cases:
        if on_case:
            on_case(case.name)
        results += _run_case(sides, project, case, repeat, duckdb)
    if tuple(cases) != CASES:
        return results
    if on_case:
        on_case(LEADS_PAGE)
    results += _run_listing(sides, project, repeat)
    results.append(_run_segments_list(sides, project, repeat))
    results.append(_run_overlap(sides, project, repeat))
    results += _run_page_loads(sides, project, repeat)
    return results


def _audience(conn: sa.Connection, project: Project, data: Any) -> Audience:
    """A filter as the API takes it: validated on every request."""
    return Audience((filtering.validate(conn, project, data, reader=None),))


def segment_ids(conn: sa.Connection, project: Project) -> dict[str, int]:
    """The project's segments by name: what a case's named segments resolve to."""
    query = sa.select(segments.c.name, segments.c.id).where(segments.c.project_id == project.id)
    return {str(name): int(segment_id) for name, segment_id in conn.execute(query)}


def _run_case(
    sides: Sides, project: Project, case: Case, repeat: int, duckdb: DuckDbSide | None
) -> Iterator[Timing]:
    now = SYSTEM_CLOCK.now()
    with sides.plain.connect() as conn:
        ids = segment_ids(conn, project)
    data = case.filter_in(ids)

    def count(conn: sa.Connection) -> tuple[int, str]:
        return answering.count(conn, project, _audience(conn, project, data), now)

    counted = _measure(sides, case.name, "count", count, repeat)
    total = counted.sql_path_rows or 0
    with sides.plain.connect() as conn:
        if conn.dialect.name == "postgresql":
            params = case.params(project.id, now, ids)
            statement = sa.text(case.postgres_sql)
            counted.reference_ms, counted.reference_rows = _timed(
                lambda: int(conn.execute(statement, params).scalar_one()), repeat
            )
    if duckdb is not None and case.duckdb_sql is not None:
        duckdb_sql = case.duckdb_sql
        counted.duckdb_ms, counted.duckdb_rows = _timed(
            lambda: duckdb.count(duckdb_sql, now), repeat
        )
    yield counted

    def preview(conn: sa.Connection) -> tuple[int, str]:
        found = segments_engine.preview(conn, project, data, None, FrozenClock(now))
        return int(found["count"]), str(found["engine"])

    yield _measure(sides, case.name, "preview", preview, repeat)
    sort = leads_engine.parse_sort(leads_engine.DEFAULT_SORT)
    for page in (1, DEEP_PAGE):
        if (page - 1) * PER_PAGE >= total:
            yield Timing(case.name, f"page {page}", [0.0], 0, note="fewer members")
            continue
        yield _measure(
            sides,
            case.name,
            f"page {page}",
            _page_operation(project, lambda c: _audience(c, project, data), sort, page, now),
            repeat,
        )

    def export(conn: sa.Connection) -> tuple[int, str]:
        audience = _audience(conn, project, data)
        chunks, engine_name = export_engine.export_audience(
            conn, conn.engine, project, audience, now, export_engine.DEFAULT_COLUMNS
        )
        lines = sum(chunk.count(b"\n") for chunk in chunks)  # every byte is produced
        return lines - 1, engine_name  # the header is not a lead

    yield _measure(sides, case.name, "export", export, max(1, repeat // 2))


def _page_operation(
    project: Project,
    audience: Callable[[sa.Connection], Audience],
    sort: Sort,
    page: int,
    now: datetime,
) -> Operation:
    def read_page(conn: sa.Connection) -> tuple[int, str]:
        found = leads_engine.audience_page(conn, project, audience(conn), sort, page, PER_PAGE, now)
        assert len(found.items) == min(PER_PAGE, max(0, found.total - (page - 1) * PER_PAGE))
        return len(found.items), found.engine

    return read_page


# -- the leads page: every sortable column, with and without search text ---------------------

LEADS_PAGE: Final = "leads page"
SEARCH_TEXT: Final = "son"  # in name, email or company: a common syllable of generated names


def _run_listing(sides: Sides, project: Project, repeat: int) -> Iterator[Timing]:
    """Page 1 and page 1000 of the project's leads (the Leads page) in every sortable column's
    order, then the same narrowed by a search."""
    now = SYSTEM_CLOCK.now()
    with sides.plain.connect() as conn:
        searched = filtering.search_tree(project, SEARCH_TEXT)
        assert searched is not None
        sizes = {
            None: answering.count(conn, project, Audience(), now)[0],
            SEARCH_TEXT: answering.count(conn, project, Audience((searched,)), now)[0],
        }
    for q, total in sizes.items():
        case = LEADS_PAGE if q is None else f"{LEADS_PAGE}, search '{q}'"

        def audience(conn: sa.Connection, q: str | None = q) -> Audience:
            tree = filtering.search_tree(project, q)  # validated, as the API does each time
            return Audience(() if tree is None else (tree,))

        for key in (leads_engine.DEFAULT_SORT, *leads_engine.SORTABLE):
            if key.lstrip("-") == "created_at" and key != leads_engine.DEFAULT_SORT:
                continue  # the default sort already is created_at
            sort = leads_engine.parse_sort(key)
            for page in (1, DEEP_PAGE):
                operation = f"page {page} by {key}"
                if (page - 1) * PER_PAGE >= total:
                    yield Timing(case, operation, [0.0], 0, note="fewer members")
                    continue
                read = _page_operation(project, audience, sort, page, now)
                yield _measure(sides, case, operation, read, repeat)
    yield _first_searches(sides, project, repeat, now)


# Syllables of generated names and companies: each run of the "new search" case types the next.
FRESH_SEARCHES: Final = ("son", "man", "ell", "ber", "ton", "ley", "ard", "ick", "ann", "ine")


def _first_searches(sides: Sides, project: Project, repeat: int, now: datetime) -> Timing:
    """Page 1 of the Leads page for a search typed for the first time: a different text each
    run, so no answer kept from an earlier run of the same search can help (the other search
    cases page through one search, as a user does once it is typed)."""
    typed: dict[sa.Engine, int] = {}

    def audience(conn: sa.Connection) -> Audience:
        n = typed[conn.engine] = typed.get(conn.engine, -1) + 1
        tree = filtering.search_tree(project, FRESH_SEARCHES[n % len(FRESH_SEARCHES)])
        return Audience(() if tree is None else (tree,))

    sort = leads_engine.parse_sort(leads_engine.DEFAULT_SORT)
    read = _page_operation(project, audience, sort, 1, now)
    return _measure(sides, f"{LEADS_PAGE}, a new search each time", "page 1", read, repeat)


# -- the segments list with its counts --------------------------------------------------------

SEGMENTS_LIST: Final = "segments list"


def _run_segments_list(sides: Sides, project: Project, repeat: int) -> Timing:
    """`GET /segments?scope=all` over HTTP, as an owner opening the Segments page: every
    segment of the project, each with its live count (one catch-up of the index for all)."""
    path = f"/api/v1/projects/{project.slug}/segments"

    def listed(http: httpx.Client) -> tuple[int, int]:
        response = http.get(path, params={"scope": "all"})
        response.raise_for_status()
        items = response.json()["items"]
        return sum(item["member_count"] or 0 for item in items), len(items)

    off = Settings(enabled=False)
    with over_http.client(sides.plain, off, project) as http:
        sql_samples, (sql_rows, listed_count) = _timed(lambda: listed(http), repeat)
    case = f"{SEGMENTS_LIST} ({listed_count} segments)"
    if sides.indexed is None:
        return Timing(case, "counts", sql_samples, sql_rows, answering.SQL, sql_samples, sql_rows)
    with over_http.client(sides.indexed, index_settings(), project) as http:
        samples, (rows, _) = _timed(lambda: listed(http), repeat)
    timing = Timing(case, "counts", samples, rows, answering.SQL, sql_samples, sql_rows)
    with sides.indexed.connect() as conn:
        # The list does not say who counted: ask the same way, untimed, for one segment.
        first = segments_engine.list_segments(
            conn, project, _owner(project), segments_engine.Scope(everyone=True), None
        )
        if first:
            audience = answering.segment_audience(conn, project, first[0])
            timing.engine = answering.count(conn, project, audience, SYSTEM_CLOCK.now())[1]
    return timing


# -- overlap: the regions of the suite's first four segments --------------------------------

OVERLAP: Final = "overlap of 4 segments"


def _run_overlap(sides: Sides, project: Project, repeat: int) -> Timing:
    """`POST /overlap` as the engine answers it: the 15 exact regions of four segments (the
    suite's first four cases, kept as segments by ensure_segments); rows: leads in any."""
    names = [case.name for case in CASES[:4]]
    with sides.plain.connect() as conn:
        by_name = dict(
            conn.execute(
                sa.select(segments.c.name, segments.c.id).where(
                    segments.c.project_id == project.id, segments.c.name.in_(names)
                )
            ).all()
        )
    ids = [by_name[name] for name in names]
    now = SYSTEM_CLOCK.now()

    def regions(conn: sa.Connection) -> tuple[int, str]:
        sets = overlap_engine.resolve(conn, project, _owner(project), ids, [])
        result = overlap_engine.overlap(conn, project, sets, now)
        return result.union, result.engine

    return _measure(sides, OVERLAP, "regions", regions, repeat)


# -- the web UI's pages, as their scripts call the API ---------------------------------------


def _run_page_loads(sides: Sides, project: Project, repeat: int) -> list[Timing]:
    """Each page's calls on opening (bench/page_loads.py) over HTTP, without the index and
    with it: a page counts as usable once they have all answered."""
    with sides.plain.connect() as conn:
        segment = conn.execute(
            sa.select(segments.c.id, segments.c.filter)
            .where(segments.c.project_id == project.id)
            .order_by(segments.c.id)
            .limit(1)
        ).first()
        lead_id = conn.execute(
            sa.select(sa.func.min(leads.c.id)).where(leads.c.project_id == project.id)
        ).scalar()
    if segment is None or lead_id is None:
        return []
    calls = page_loads.pages(project.slug, segment.id, segment.filter, lead_id)

    def timed_pages(engine: Engine, settings: Settings) -> dict[str, tuple[list[float], int]]:
        with over_http.client(engine, settings, project) as http:
            return {
                name: _timed(page_loads.loader(http, page), repeat) for name, page in calls.items()
            }

    plain = timed_pages(sides.plain, Settings(enabled=False))
    if sides.indexed is None:
        return [
            Timing(name, "page load", samples, n, answering.SQL, samples, n)
            for name, (samples, n) in plain.items()
        ]
    indexed = timed_pages(sides.indexed, index_settings())
    return [
        Timing(name, "page load", samples, n, answering.INDEX, plain[name][0], n)
        for name, (samples, n) in indexed.items()
    ]


def _owner(project: Project) -> Principal:
    return Principal(0, project.organization_id, "bench@bench.invalid", Role.OWNER, None)


# -- the index: its build, its memory, and catching up after writes ---------------------------


def index_settings() -> Settings:
    """The environment's settings (SEGMINT_INDEX, SEGMINT_INDEX_MEMORY), built when first asked
    rather than in the background, so the build can be timed."""
    settings = Settings.from_env()
    return Settings(enabled=settings.enabled, memory=settings.memory, background=False)


def build_index(sides: Sides, project: Project) -> dict[str, Any]:
    """Attach an index to the indexed side and build the project's: how long, how big. Leaves
    `sides.indexed` None when the index is off or the project could not be indexed."""
    assert sides.indexed is not None
    settings = index_settings()
    indexes = attach(sides.indexed, settings)
    if indexes is None:
        sides.indexed = None
        return {"enabled": False, "note": "SEGMINT_INDEX=off: every answer is SQL's"}
    gc.collect()
    rss_before, peak_before = _rss(), _max_rss()
    started = time.perf_counter()
    index = indexes.ready(project.id)
    seconds = time.perf_counter() - started
    gc.collect()
    status = indexes.status()["projects"].get(str(project.id), {})
    report: dict[str, Any] = {
        "enabled": True,
        "state": status.get("state"),
        "memory_budget_bytes": settings.memory,
        "build_seconds": round(seconds, 2),
        # What the process holds more after the build (numpy columns, and the Python objects of
        # the dictionaries, which nbytes() only estimates); and how far its peak rose past the
        # peak before (0 when the build never went above what came before it).
        "rss_growth_bytes": _rss() - rss_before,
        "peak_rss_growth_bytes": max(0, _max_rss() - peak_before),
    }
    if index is None:
        report["note"] = status.get("error", "not ready")
        detach(sides.indexed)
        sides.indexed = None
        return report
    report.update(leads=len(index.leads), events=len(index.events), after_build=index_memory(index))
    return report


def index_memory(index: ProjectIndex) -> dict[str, Any]:
    """The index's bytes, in total and per lead and event (the lead side holds the leads,
    their accounts, memberships and kept sort orders; the event side the events)."""
    total = index.nbytes()
    event_bytes = index.events.nbytes()
    leads_n, events_n = len(index.leads), len(index.events)
    return {
        "bytes": total,
        "lead_side_bytes": total - event_bytes,
        "event_bytes": event_bytes,
        "bytes_per_lead": round((total - event_bytes) / max(leads_n, 1), 1),
        "bytes_per_event": round(event_bytes / max(events_n, 1), 1),
        "total_bytes_per_lead": round(total / max(leads_n, 1), 1),
    }


def _rss() -> int:
    """This process's resident memory now, in bytes (0 where /proc is not there)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * resource.getpagesize()


def _max_rss() -> int:
    """This process's peak resident memory so far, in bytes (Linux reports kilobytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak * (1 if sys.platform == "darwin" else 1024))


def current_index(sides: Sides, project: Project) -> ProjectIndex | None:
    if sides.indexed is None:
        return None
    indexes = indexes_for(sides.indexed)
    return indexes.ready(project.id) if indexes is not None else None


@dataclass
class CatchUp:
    writes: int
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        timed = [r for r in self.rounds if not r["warm_up"]] or self.rounds
        written = [r["count_after_writes_ms"] for r in timed]
        removed = [r["count_after_deletes_ms"] for r in timed]
        return {
            "lead_writes": self.writes,
            # The first round after a build also grows every column's array by an eighth (a
            # build trims them to their size): shown apart, as other operations' warm-up runs.
            "warm_up_count_after_writes_ms": self.rounds[0]["count_after_writes_ms"],
            "count_after_writes_median_ms": round(statistics.median(written), 2),
            "count_after_writes_max_ms": round(max(written), 2),
            "count_after_deletes_median_ms": round(statistics.median(removed), 2),
            "count_before_writes_median_ms": round(
                statistics.median(r["count_before_ms"] for r in timed), 2
            ),
            "engine": self.rounds[0]["engine"],
            "includes_every_write": all(r["includes_every_write"] for r in self.rounds),
            "rounds": self.rounds,
        }


def run_catch_up(sides: Sides, project: Project, writes: int, rounds: int) -> CatchUp:
    """Commit `writes` new leads through the ingestion code, then count the project's leads at
    once: the count must include them, and its time includes catching up with them. Then the
    leads are deleted and counted again (catching up with the deletes). One warm-up round
    first, as every operation has."""
    result = CatchUp(writes)
    counting = sides.indexed or sides.plain
    generator = demo.DemoGenerator(project, 11, SYSTEM_CLOCK.now(), [])
    everyone = Audience()
    for number in range(rounds + 1):
        prefix = f"catch-up-{int(time.time())}-{number}-"
        with counting.connect() as conn:
            start = time.perf_counter()
            before, _ = answering.count(conn, project, everyone, SYSTEM_CLOCK.now())
            before_ms = (time.perf_counter() - start) * 1000
        records = []
        for n in range(writes):
            record = generator.lead(n)
            record.pop("account_id", None)
            record.pop("created_at", None)
            record["email"] = f"{prefix}{n}@bench.invalid"
            records.append(record)
        written = time.perf_counter()
        for offset in range(0, writes, 100):  # batches of 100, as the ingest phase writes
            upsert_leads(sides.plain, project, enumerate(records[offset : offset + 100]))
        write_s = time.perf_counter() - written
        with counting.connect() as conn:
            start = time.perf_counter()
            after, engine_name = answering.count(conn, project, everyone, SYSTEM_CLOCK.now())
            after_ms = (time.perf_counter() - start) * 1000
        _remove(sides.plain, project, prefix)
        with counting.connect() as conn:
            start = time.perf_counter()
            again, _ = answering.count(conn, project, everyone, SYSTEM_CLOCK.now())
            again_ms = (time.perf_counter() - start) * 1000
        result.rounds.append(
            {
                "warm_up": number == 0,
                "engine": engine_name,
                "writes_seconds": round(write_s, 2),
                "count_before_ms": round(before_ms, 2),
                "count_after_writes_ms": round(after_ms, 2),
                "count_after_deletes_ms": round(again_ms, 2),
                "includes_every_write": after == before + writes and again == before,
            }
        )
    drain(sides.plain)  # the maintenance the writes queued (their leads are gone: skipped)
    return result


# -- maintained membership under write load --------------------------------------------------


def ensure_segments(engine: Engine, project: Project) -> None:
    """The suite's cases and the listed extras as active segments (twenty or more, so the
    segments list is a working project's, and writes have memberships to maintain)."""
    now = SYSTEM_CLOCK.now()
    with engine.begin() as conn:
        ids = segment_ids(conn, project)

        def keep(name: str, tree: dict[str, Any]) -> None:
            if name in ids:
                return
            values = {"project_id": project.id, "name": name, "filter": tree, "active": True}
            ids[name] = conn.execute(
                segments.insert()
                .values(**values, created_at=now, updated_at=now)
                .returning(segments.c.id)
            ).scalar_one()
            segments_engine.resync_later(conn, project, ids[name], Reason.CREATED, now)

        for case in CASES:  # in order: a case naming another case's segment comes after it
            keep(case.name, case.filter_in(ids))
        for name, tree in LISTED:
            keep(name, tree)


def drain(engine: Engine) -> int:
    """Do all queued work now (the initial build of new segments' memberships)."""
    return Worker(engine, batch=50).drain(limit=10**9)


def wait_for_worker(engine: Engine, project: Project, timeout: float) -> bool:
    """Whether the project's queued work was all done within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    query = sa.select(sa.func.count()).where(work_items.c.project_id == project.id)
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if not conn.execute(query).scalar():
                return True
        time.sleep(0.05)
    return False


@dataclass
class IngestResult:
    lead_writes: int = 0
    lead_writes_per_s: float = 0.0
    events: int = 0
    events_per_s: float = 0.0
    delays_ms: list[float] = field(default_factory=list)
    drained: bool = True
    worker_engine: str = answering.SQL  # who answered the worker's membership evaluations
    worker_index_seconds: float = 0.0  # how long its index took to build before the writes

    def as_dict(self) -> dict[str, Any]:
        delays = self.delays_ms or [0.0]
        return {
            "lead_writes": self.lead_writes,
            "lead_writes_per_s": round(self.lead_writes_per_s),
            "events": self.events,
            "events_per_s": round(self.events_per_s),
            "write_to_history_p50_ms": round(statistics.median(delays), 1),
            "write_to_history_p95_ms": round(percentile(delays, 95), 1),
            "history_rows_measured": len(self.delays_ms),
            "worker_kept_up": self.drained,
            "worker_engine": self.worker_engine,
            "worker_index_seconds": self.worker_index_seconds,
        }


def run_ingest(
    engine: Engine, project: Project, seconds: float, rate: int, batch: int = 100
) -> IngestResult:
    """Write new leads at `rate` a second for `seconds` with a worker running, then events;
    measure throughput and each written lead's delay to its first history row. The leads are
    removed afterwards so the data set stays reusable."""
    result = IngestResult()
    # The worker runs as its own process, as deployed: in this one it would share the GIL.
    url = engine.url.render_as_string(hide_password=False)
    with tempfile.NamedTemporaryFile(prefix="segmint-bench-worker-", suffix=".log") as log:
        _ingest_with_worker(engine, project, url, Path(log.name), seconds, rate, batch, result)
    return result


def _ingest_with_worker(
    engine: Engine,
    project: Project,
    url: str,
    log_path: Path,
    seconds: float,
    rate: int,
    batch: int,
    result: IngestResult,
) -> None:
    prefix = f"ingest-{int(time.time())}-"
    with log_path.open("wb") as out:  # the worker keeps its own handle
        worker = subprocess.Popen(
            [sys.executable, "-m", "segmint", "worker", "--database-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # As deployed, a worker has long built its index when writes come: wait for it, or the
        # writes would measure the SQL path it takes meanwhile.
        result.worker_engine, result.worker_index_seconds = _worker_index(log_path, project, worker)
        generator = demo.DemoGenerator(project, 7, SYSTEM_CLOCK.now(), [])
        started = time.monotonic()
        emails: list[str] = []
        while time.monotonic() - started < seconds:
            records = []
            for _ in range(batch):
                record = generator.lead(len(emails))
                record.pop("account_id", None)
                record.pop("created_at", None)
                record["email"] = f"{prefix}{len(emails)}@bench.invalid"
                emails.append(record["email"])
                records.append(record)
            upsert_leads(engine, project, enumerate(records))
            _pace(started, len(emails), rate)
        result.lead_writes = len(emails)
        result.lead_writes_per_s = len(emails) / (time.monotonic() - started)
        result.events, result.events_per_s = _ingest_events(
            engine, project, generator, emails, seconds
        )
        result.drained = wait_for_worker(engine, project, timeout=120)
        result.delays_ms = _delays(engine, project, prefix)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        _remove(engine, project, prefix)


WORKER_INDEX_TIMEOUT: Final = 600.0  # seconds for the worker to build its index


def _worker_index(
    log_path: Path, project: Project, worker: subprocess.Popen[bytes]
) -> tuple[str, float]:
    """Who will answer the worker's evaluations ("index" once its build is logged ready,
    "sql" when the index is off, over budget or failed), and how long the build took."""
    if not index_settings().enabled:
        return answering.SQL, 0.0
    ready = f"index of project {project.id} ready"
    given_up = (
        f"project {project.id} does not fit",
        f"building the index of project {project.id} failed",
    )
    started = time.monotonic()
    while time.monotonic() - started < WORKER_INDEX_TIMEOUT and worker.poll() is None:
        text = log_path.read_text(errors="replace")
        if ready in text:
            return answering.INDEX, round(time.monotonic() - started, 1)
        if any(line in text for line in given_up):
            break
        time.sleep(0.5)
    return answering.SQL, round(time.monotonic() - started, 1)


def _pace(started: float, done: int, rate: int) -> None:
    ahead = done / rate - (time.monotonic() - started)
    if ahead > 0:
        time.sleep(ahead)


def _ingest_events(
    engine: Engine,
    project: Project,
    generator: demo.DemoGenerator,
    emails: list[str],
    seconds: float,
) -> tuple[int, float]:
    rng = generator.rng
    kinds, weights = list(demo.EVENT_WEIGHTS), list(demo.EVENT_WEIGHTS.values())
    started, sent = time.monotonic(), 0
    while time.monotonic() - started < seconds and emails:
        chunk = [
            {"email": rng.choice(emails), "type": kind, "metadata": generator.event_metadata(kind)}
            for kind in rng.choices(kinds, weights, k=1000)
        ]
        ingest_events(engine, project, enumerate(chunk))
        sent += len(chunk)
    return sent, sent / max(time.monotonic() - started, 1e-9)


def _delays(engine: Engine, project: Project, prefix: str) -> list[float]:
    """Per written lead: its first history row's time minus the time it was written."""
    written = (
        sa.select(leads.c.id, leads.c.created_at)
        .where(leads.c.project_id == project.id, leads.c.email.startswith(prefix))
        .subquery()
    )
    query = (
        sa.select(written.c.created_at, sa.func.min(membership_history.c.at))
        .join(membership_history, membership_history.c.lead_id == written.c.id)
        .where(
            membership_history.c.project_id == project.id,
            membership_history.c.reason == Reason.LEAD_WRITE,
        )
        .group_by(written.c.id, written.c.created_at)
    )
    with engine.connect() as conn:
        return [
            (as_utc(at) - as_utc(created)).total_seconds() * 1000
            for created, at in conn.execute(query)
        ]


def _remove(engine: Engine, project: Project, prefix: str) -> None:
    with engine.begin() as conn:
        ids = sa.select(leads.c.id).where(
            leads.c.project_id == project.id, leads.c.email.startswith(prefix)
        )
        conn.execute(
            membership_history.delete().where(
                membership_history.c.project_id == project.id,
                membership_history.c.lead_id.in_(ids),
            )
        )
        # Work items still naming these leads are harmless: the worker skips missing leads.
        conn.execute(leads.delete().where(leads.c.project_id == project.id, leads.c.id.in_(ids)))
