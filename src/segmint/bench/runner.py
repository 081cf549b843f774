"""Runs the suite through the same engine code the API uses and times it honestly.

Each operation runs once to warm caches (as a user's second look would find them), then
`repeat` times; the median and the 95th percentile are reported. Counts are also answered by
the hand-written statement of each case (PostgreSQL), and the ratio of the two is Segmint's
overhead; and, when DuckDB is installed, by the case's DuckDB statement over the project
exported to Parquet, the ratio to which compares Segmint with an analyst's tool. Ingest writes
new leads through the shared ingestion code at a target rate while a worker maintains the
suite's segments, then reports the delay from each write to its history row.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import demo
from segmint.bench.duckdb_side import DuckDbSide
from segmint.bench.suite import CASES, Case
from segmint.clock import SYSTEM_CLOCK, as_utc
from segmint.engine import filtering
from segmint.engine import leads as leads_engine
from segmint.engine import segments as segments_engine
from segmint.engine.export import stream_csv
from segmint.engine.membership import Reason
from segmint.ingest import ingest_events, upsert_leads
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
    reference_ms: list[float] | None = None  # the hand-written statement's times
    reference_rows: int | None = None
    duckdb_ms: list[float] | None = None  # DuckDB's times over the Parquet export
    duckdb_rows: int | None = None
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
            "median_ms": round(self.median_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "rows": self.rows,
        }
        if self.operation == "export" and self.rows is not None:
            data["rows_per_s"] = round(self.rows / max(self.median_ms / 1000, 1e-9))
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
    result = fn()  # warm-up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples, result


def run_suite(
    engine: Engine,
    project: Project,
    repeat: int,
    on_case: Callable[[str], None] | None = None,
    duckdb: DuckDbSide | None = None,
) -> list[Timing]:
    results: list[Timing] = []
    for case in CASES:
        if on_case:
            on_case(case.name)
        results += _run_case(engine, project, case, repeat, duckdb)
    return results


def _run_case(
    engine: Engine, project: Project, case: Case, repeat: int, duckdb: DuckDbSide | None
) -> Iterator[Timing]:
    now = SYSTEM_CLOCK.now()
    with engine.connect() as conn:

        def where() -> sa.ColumnElement[bool]:
            tree = filtering.validate(conn, project, case.filter, reader=None)
            return filtering.condition(conn, project, tree, now)

        samples, total = _timed(lambda: segments_engine.count_where(conn, project, where()), repeat)
        count = Timing(case.name, "count", samples, total)
        if conn.dialect.name == "postgresql":
            params = {"project_id": project.id, "now": now}
            statement = sa.text(case.postgres_sql)
            count.reference_ms, count.reference_rows = _timed(
                lambda: int(conn.execute(statement, params).scalar_one()), repeat
            )
        if duckdb is not None:
            count.duckdb_ms, count.duckdb_rows = _timed(
                lambda: duckdb.count(case.duckdb_sql, now), repeat
            )
        yield count
        samples, _ = _timed(
            lambda: segments_engine.preview(conn, project, case.filter, None), repeat
        )
        yield Timing(case.name, "preview", samples, total)
        sort = leads_engine.parse_sort("-created_at")
        for page in (1, DEEP_PAGE):
            if (page - 1) * PER_PAGE >= total:
                yield Timing(case.name, f"page {page}", [0.0], 0, note="fewer members")
                continue

            def read_page(number: int = page) -> leads_engine.Page:
                return leads_engine.page_of_leads(conn, project, where(), sort, number, PER_PAGE)

            samples, found = _timed(read_page, repeat)
            yield Timing(case.name, f"page {page}", samples, len(found.items))
    export_where = leads_engine.in_project(project, _where(engine, project, case, now))
    samples, _ = _timed(
        lambda: sum(len(b) for b in stream_csv(engine, export_where)), max(1, repeat // 2)
    )
    yield Timing(case.name, "export", samples, total)


def _where(engine: Engine, project: Project, case: Case, now: datetime) -> sa.ColumnElement[bool]:
    with engine.connect() as conn:
        tree = filtering.validate(conn, project, case.filter, reader=None)
        return filtering.condition(conn, project, tree, now)


# -- maintained membership under write load --------------------------------------------------


def ensure_segments(engine: Engine, project: Project) -> None:
    """The suite's cases as active segments, so writes have memberships to maintain."""
    now = SYSTEM_CLOCK.now()
    with engine.begin() as conn:
        existing = set(
            conn.execute(
                sa.select(segments.c.name).where(segments.c.project_id == project.id)
            ).scalars()
        )
        for case in CASES:
            if case.name in existing:
                continue
            segment_id = conn.execute(
                segments.insert()
                .values(
                    project_id=project.id,
                    name=case.name,
                    filter=case.filter,
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
                .returning(segments.c.id)
            ).scalar_one()
            segments_engine.resync_later(conn, project, segment_id, Reason.CREATED, now)


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
        }


def run_ingest(
    engine: Engine, project: Project, seconds: float, rate: int, batch: int = 100
) -> IngestResult:
    """Write new leads at `rate` a second for `seconds` with a worker running, then events;
    measure throughput and each written lead's delay to its first history row. The leads are
    removed afterwards so the data set stays reusable."""
    prefix = f"ingest-{int(time.time())}-"
    result = IngestResult()
    # The worker runs as its own process, as deployed: in this one it would share the GIL.
    url = engine.url.render_as_string(hide_password=False)
    worker = subprocess.Popen(
        [sys.executable, "-m", "segmint", "worker", "--database-url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
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
    return result


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
