"""Reproducible bench data, written fast: a million leads and ten million events in minutes.

The demo's generator shapes each lead (Faker pools drawn with a seeded random, so a seed gives
the same data); rows bypass per-row validation and go straight in with COPY on PostgreSQL (or
executemany on SQLite), a chunk of leads and their events per transaction. Data is dated from
the day it is made, so "in the last 14 days" keeps its meaning: a set made today with the same
sizes and seed is reused, any other is rebuilt.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import auth, demo
from segmint.errors import NotFound
from segmint.model import LEAD_WRITABLE
from segmint.projects import Project, create_project, get_project, get_project_by_id
from segmint.store.bulk import insert_returning_ids, insert_rows
from segmint.store.db import refresh_sqlite_statistics
from segmint.store.tables import events, leads, organizations, projects

CHUNK = 10_000  # leads per transaction
ORGANIZATION = "Segmint bench"


@dataclass(frozen=True)
class BenchSize:
    leads: int
    events: int
    seed: int = 42

    @property
    def slug(self) -> str:
        return f"bench-{self.leads}-{self.events}-{self.seed}"


def anchor_of(now: datetime) -> datetime:
    """The instant data is dated from: midnight UTC of the day it is made."""
    return datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)


def prepare(
    engine: Engine,
    size: BenchSize,
    now: datetime,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[Project, bool]:
    """The bench project with its data, and whether it had to be generated."""
    anchor = anchor_of(now)
    label = f"Bench data of {anchor.date().isoformat()}"
    project = _project(engine, size)
    if project.name == label and _complete(engine, project, size):
        analyze(engine, "leads", "events")  # an upgrade may have added indexes with no statistics
        return project, False
    demo.clear(engine, project)
    with engine.begin() as conn:
        conn.execute(
            projects.update().where(projects.c.id == project.id).values(name="(generating)")
        )
    project = _generate(engine, project, size, anchor, on_progress)
    with engine.begin() as conn:
        conn.execute(projects.update().where(projects.c.id == project.id).values(name=label))
        return get_project_by_id(conn, project.id), True


def _project(engine: Engine, size: BenchSize) -> Project:
    with engine.begin() as conn:
        org_id = conn.execute(
            sa.select(organizations.c.id).where(organizations.c.name == ORGANIZATION)
        ).scalar()
        if org_id is None:
            org_id = auth.create_organization(conn, ORGANIZATION)
        try:
            return get_project(conn, org_id, size.slug)
        except NotFound:
            return create_project(conn, org_id, size.slug, name="(generating)")


def _complete(engine: Engine, project: Project, size: BenchSize) -> bool:
    with engine.connect() as conn:
        count = sa.select(sa.func.count())
        lead_count = conn.execute(count.where(leads.c.project_id == project.id)).scalar()
        event_count = conn.execute(count.where(events.c.project_id == project.id)).scalar()
    return (lead_count, event_count) == (size.leads, size.events)


def _generate(
    engine: Engine,
    project: Project,
    size: BenchSize,
    anchor: datetime,
    on_progress: Callable[[int], None] | None,
) -> Project:
    project = demo.declare_custom_fields(engine, project)
    generator = demo.DemoGenerator(project, size.seed, anchor, [])
    generator.account_ids = demo.create_accounts(engine, project, generator, anchor)
    quota = _EventQuota(size.events, size.leads, random.Random(size.seed + 1))
    for first in range(0, size.leads, CHUNK):
        indexes = range(first, min(first + CHUNK, size.leads))
        records = [generator.lead(i) for i in indexes]
        timelines = [_timeline(generator, quota, r["created_at"], anchor) for r in records]
        rows = [
            _lead_row(project.id, r, t, anchor) for r, t in zip(records, timelines, strict=True)
        ]
        with engine.begin() as conn:
            ids = insert_returning_ids(conn, leads, rows)
            insert_rows(
                conn,
                events,
                [
                    {**event, "project_id": project.id, "lead_id": lead_id, "created_at": anchor}
                    for lead_id, timeline in zip(ids, timelines, strict=True)
                    for event in timeline
                ],
            )
        if on_progress:
            on_progress(len(records))
    store_in_arrival_order(engine)
    analyze(engine, "leads", "events", vacuum=True)
    return project


def store_in_arrival_order(engine: Engine) -> None:
    """Rewrite the events table in `occurred_at` order (PostgreSQL).

    A live system appends events as they happen, so a window's events (the last 30 days) share
    a few pages; generated lead by lead they would be spread over the whole table, and every
    windowed condition would read all of it (finding 11 in docs/performance.md). CLUSTER locks
    the table while it runs: the bench expects a database of its own.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("CREATE INDEX segmint_bench_arrival ON events (occurred_at)")
        conn.exec_driver_sql("CLUSTER events USING segmint_bench_arrival")
        conn.exec_driver_sql("DROP INDEX segmint_bench_arrival")


def analyze(engine: Engine, *tables: str, vacuum: bool = False) -> None:
    """Fresh statistics for bulk-loaded tables (SQLite: the whole database), or the planner
    guesses: with a stale row count for segment_members it scanned a segment's every member to
    find a few.
    VACUUM also empties the GIN indexes' pending lists and sets the visibility map that
    index-only scans of events rely on. Autovacuum does the same in time; a bench cannot wait."""
    if engine.dialect.name == "sqlite":
        refresh_sqlite_statistics(engine)
        return
    command = "VACUUM ANALYZE" if vacuum else "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:  # our own table names, never input
            conn.exec_driver_sql(f"{command} {table}")


class _EventQuota:
    """Per-lead event counts that vary like real activity (exponential) yet sum to exactly the
    total asked for: each draw aims at the mean of what is left, the last lead takes the rest."""

    def __init__(self, total: int, leads_count: int, rng: random.Random) -> None:
        self.left, self.leads_left, self.rng = total, leads_count, rng

    def draw(self) -> int:
        self.leads_left -= 1
        if self.leads_left <= 0:
            count = self.left
        else:
            mean = self.left / (self.leads_left + 1)
            count = min(self.left, int(self.rng.expovariate(1 / mean))) if mean > 0 else 0
        self.left -= count
        return count


def _timeline(
    generator: demo.DemoGenerator, quota: _EventQuota, created: datetime, anchor: datetime
) -> list[dict[str, Any]]:
    rng = generator.rng
    start = max(created, anchor - timedelta(days=demo.EVENT_WINDOW_DAYS))
    span = max((anchor - start).total_seconds(), 1.0)
    kinds = rng.choices(list(demo.EVENT_WEIGHTS), list(demo.EVENT_WEIGHTS.values()), k=quota.draw())
    return [
        {
            "type": kind,
            "occurred_at": start + timedelta(seconds=rng.random() * span),
            "metadata": generator.event_metadata(kind),
        }
        for kind in kinds
    ]


def _lead_row(
    project_id: int, record: dict[str, Any], timeline: list[dict[str, Any]], anchor: datetime
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(LEAD_WRITABLE)
    row.update({k: v for k, v in record.items() if k in LEAD_WRITABLE})
    score = float(min(100, 3 * len(timeline)))
    row.update(
        project_id=project_id,
        custom={k[len("custom.") :]: v for k, v in record.items() if k.startswith("custom.")},
        enrichment=record.get("enrichment"),
        engagement_score=score,
        max_score=score,
        updated_at=anchor,
        last_activity_at=max((e["occurred_at"] for e in timeline), default=None),
    )
    return row
