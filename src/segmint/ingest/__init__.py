"""Ingestion shared by the CLI, the API and the demo: leads from CSV, events from JSONL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.ingest.batches import ErrorCallback, ImportReport, RowError
from segmint.ingest.csv_source import CsvRecords, ProgressCallback
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


# Leads are matched by email alone. A file without one still imports (leads without an email
# are valid), but the user must know that importing it again cannot update them.
NO_EMAIL_WARNING = (
    "no column maps to email, so rows cannot be matched to existing leads: every row creates a "
    "new lead, and importing the file again duplicates them. To update leads instead, map the "
    'column holding emails to email (--map "Column=email"; the API\'s mapping {"Column": "email"})'
)


def import_leads_csv(
    engine: Engine,
    project: Project,
    path: Path,
    overrides: dict[str, str] | None = None,
    on_conflict: OnConflict = "update",
    clock: Clock = SYSTEM_CLOCK,
    on_progress: ProgressCallback | None = None,
    on_error: ErrorCallback | None = None,
) -> ImportReport:
    """Stream a CSV file into the project's leads; see LeadWriter for the upsert rules."""
    report = ImportReport()
    writer = LeadWriter(engine, project, report, on_conflict, clock, on_error)
    records = CsvRecords(path, project, overrides or {}, on_progress)
    records.on_error = lambda error: writer.fail(error.location, error.message)
    for line, record in records:
        writer.add(line, record)
    writer.close()
    report.ignored_columns = records.mapping.ignored if records.mapping else []
    if records.mapping and "email" not in records.mapping.targets:
        report.warnings.append(NO_EMAIL_WARNING)
    refresh_sqlite_statistics(engine, report.counts.created + report.counts.updated)
    return report
