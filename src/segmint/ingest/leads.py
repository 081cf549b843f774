"""Lead upserts in batches: records from a file or a request, validated and written by the
engine's rules (`engine/lead_writes.py`) a batch per transaction, deduplicated by email."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.engine import owners
from segmint.engine.lead_writes import (
    ON_CONFLICT_CHOICES,
    LeadInput,
    OnConflict,
    prepare_lead,
    upsert,
)
from segmint.errors import InvalidInput
from segmint.ingest.batches import (
    DEFAULT_BATCH_SIZE,
    BatchWriter,
    Counts,
    ErrorCallback,
    ImportReport,
    RowError,
)
from segmint.projects import Project
from segmint.store.db import Bind
from segmint.store.tables import leads

__all__ = ["ON_CONFLICT_CHOICES", "LeadWriter", "OnConflict", "upsert_leads"]


class LeadWriter:
    """Upserts leads of one project by email (case-insensitive), a batch per transaction."""

    def __init__(
        self,
        engine: Bind,
        project: Project,
        report: ImportReport,
        on_conflict: OnConflict = "update",
        clock: Clock = SYSTEM_CLOCK,
        on_error: ErrorCallback | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        unit: str = "line",
    ) -> None:
        if on_conflict not in ON_CONFLICT_CHOICES:
            raise InvalidInput("must be 'update' or 'skip'", "on_conflict")
        self.project = project
        self.on_conflict = on_conflict
        self.clock = clock
        self._report = report
        self._unit = unit  # what a location is, in warnings: a file's line, a request's row
        self._batches: BatchWriter[LeadInput] = BatchWriter(
            engine,
            self._write,
            report,
            on_error,
            batch_size,
            conflict_key=lambda lead: lead.email,
            grows=(leads.name,),
        )

    def add(self, location: int, record: Mapping[str, Any], keep_blank: bool = False) -> None:
        try:
            lead = prepare_lead(location, record, self.project, keep_blank)
        except InvalidInput as exc:
            self._batches.fail(location, str(exc))
            return
        self._batches.add(lead)

    def fail(self, location: int, message: str) -> None:
        self._batches.fail(location, message)

    def close(self) -> None:
        self._batches.flush()
        dropped = [(row.location, row.message) for row in self._report.unassigned]
        if dropped:
            self._report.warnings.append(owners.unassigned_warning(dropped, self._unit))

    def _write(self, conn: sa.Connection, batch: list[LeadInput]) -> Counts:
        written = upsert(conn, self.project, batch, self.on_conflict, self.clock.now())
        return Counts(
            created=written.created,
            updated=written.updated,
            skipped=written.skipped,
            unassigned=[RowError(location, owner) for location, owner in written.unassigned],
        )


def upsert_leads(
    engine: Bind,
    project: Project,
    records: Iterable[tuple[int, Mapping[str, Any]]],
    on_conflict: OnConflict = "update",
    clock: Clock = SYSTEM_CLOCK,
    on_error: ErrorCallback | None = None,
    keep_blank: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    unit: str = "line",
) -> ImportReport:
    """Upsert `(location, record)` pairs; bad records are reported, good ones always stored."""
    report = ImportReport()
    writer = LeadWriter(engine, project, report, on_conflict, clock, on_error, batch_size, unit)
    for location, record in records:
        writer.add(location, record, keep_blank)
    writer.close()
    return report
