"""Ingestion shared by the CLI, the API and the demo: leads from CSV, events from JSONL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.ingest.batches import ErrorCallback, ImportReport, RowError
from segmint.ingest.csv_source import NO_EMAIL_WARNING, CsvRecords, ProgressCallback
from segmint.ingest.events import import_events_jsonl, ingest_events
from segmint.ingest.leads import LeadWriter, OnConflict, upsert_leads
from segmint.projects import Project
from segmint.store.db import refresh_sqlite_statistics

__all__ = [
    "NO_EMAIL_WARNING",
    "ImportReport",
    "RowError",
    "import_events_jsonl",
    "import_leads_csv",
    "ingest_events",
    "upsert_leads",
]


def import_leads_csv(
    engine: Engine,
    project: Project,
    path: Path,
    overrides: dict[str, str] | None = None,
    on_conflict: OnConflict = "update",
    clock: Clock = SYSTEM_CLOCK,
    on_progress: ProgressCallback | None = None,
    on_error: ErrorCallback | None = None,
    encoding: str = "utf-8",
    mapping_option: str = "--map",
) -> ImportReport:
    """Stream a CSV file into the project's leads; see LeadWriter for the upsert rules.

    `encoding` is one of csv_rows.ENCODINGS; a file whose first 64 KB are not in it is refused
    before anything is written.
    """
    report = ImportReport()
    writer = LeadWriter(engine, project, report, on_conflict, clock, on_error)
    records = CsvRecords(
        path,
        project,
        overrides or {},
        on_progress,
        encoding=encoding,
        mapping_option=mapping_option,
    )
    records.on_error = lambda error: writer.fail(error.location, error.message)
    for line, record in records:
        writer.add(line, record)
    writer.close()
    report.ignored_columns = records.mapping.ignored if records.mapping else []
    if records.mapping and "email" not in records.mapping.targets:
        report.warnings.append(NO_EMAIL_WARNING)
    refresh_sqlite_statistics(engine, report.counts.created + report.counts.updated)
    return report
