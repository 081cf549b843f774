"""Event ingestion: records from JSONL or a request validated, their leads resolved by email
or id, written in batches by the engine's rules (`engine/events.py`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.engine import values
from segmint.engine.events import NewEvent, record_events
from segmint.errors import InvalidInput
from segmint.ingest.batches import (
    DEFAULT_BATCH_SIZE,
    BatchWriter,
    Counts,
    ErrorCallback,
    ImportReport,
    RowError,
)
from segmint.ingest.csv_source import ProgressCallback
from segmint.projects import Project
from segmint.storable import check_storable
from segmint.store.db import Bind, refresh_sqlite_statistics
from segmint.store.tables import events, leads

TYPE_MAX = 100


@dataclass
class EventInput:
    location: int
    type: str
    occurred_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    lead_id: int | None = None
    email: str | None = None


def prepare_event(location: int, record: Mapping[str, Any], now: datetime) -> EventInput:
    if not isinstance(record, Mapping):
        raise InvalidInput("expected a JSON object")
    check_storable(dict(record))  # first: parsers' messages may quote the value
    unknown = set(record) - {"lead_id", "email", "type", "occurred_at", "metadata"}
    if unknown:
        raise InvalidInput("unknown field", sorted(unknown)[0])
    event_type = values.parse_text(record.get("type"), "type", TYPE_MAX)
    if event_type is None:
        raise InvalidInput("required", "type")
    lead_id, email = _lead_reference(record)
    return EventInput(
        location=location,
        type=event_type,
        occurred_at=values.parse_datetime(record.get("occurred_at"), "occurred_at") or now,
        metadata=values.parse_json_object(record.get("metadata"), "metadata") or {},
        lead_id=lead_id,
        email=email,
    )


def _lead_reference(record: Mapping[str, Any]) -> tuple[int | None, str | None]:
    raw_id = record.get("lead_id")
    if raw_id is not None:
        if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)):
            raise InvalidInput("expected a lead id", "lead_id")
        try:
            lead_id = int(raw_id)
        except ValueError:
            raise InvalidInput("expected a lead id", "lead_id") from None
        if not 1 <= lead_id <= values.ID_MAX:
            raise InvalidInput("expected a lead id", "lead_id")
        return lead_id, None
    email = values.parse_email(record.get("email"))
    if email is None:
        raise InvalidInput("give the lead as lead_id or email", "lead_id")
    return None, email


class EventWriter:
    def __init__(
        self,
        engine: Bind,
        project: Project,
        report: ImportReport,
        clock: Clock = SYSTEM_CLOCK,
        on_error: ErrorCallback | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.project = project
        self.clock = clock
        self._batches: BatchWriter[EventInput] = BatchWriter(
            engine, self._write, report, on_error, batch_size, grows=(events.name,)
        )

    def add(self, location: int, record: Mapping[str, Any]) -> None:
        try:
            event = prepare_event(location, record, self.clock.now())
        except InvalidInput as exc:
            self._batches.fail(location, str(exc))
            return
        self._batches.add(event)

    def fail(self, location: int, message: str) -> None:
        self._batches.fail(location, message)

    def close(self) -> None:
        self._batches.flush()

    def _write(self, conn: sa.Connection, batch: list[EventInput]) -> Counts:
        counts = Counts()
        lead_ids = self._resolve_leads(conn, batch)
        rows: list[NewEvent] = []
        for event in batch:
            lead_id = lead_ids.get(event.email or event.lead_id)
            if lead_id is None:
                counts.rejected.append(RowError(event.location, _no_lead(event)))
                continue
            rows.append(NewEvent(lead_id, event.type, event.occurred_at, event.metadata))
        record_events(conn, self.project, rows, self.clock.now())
        counts.accepted += len(rows)
        return counts

    def _resolve_leads(self, conn: sa.Connection, batch: list[EventInput]) -> dict[Any, int]:
        """Map each email and lead id of the batch to a lead id of this project (one query)."""
        emails = {e.email for e in batch if e.email}
        ids = {e.lead_id for e in batch if e.lead_id is not None}
        found: dict[Any, int] = {}
        if emails:
            query = sa.select(leads.c.id, leads.c.email).where(
                leads.c.project_id == self.project.id, leads.c.email.in_(emails)
            )
            found.update({row.email: row.id for row in conn.execute(query)})
        if ids:
            query = sa.select(leads.c.id).where(
                leads.c.project_id == self.project.id, leads.c.id.in_(ids)
            )
            found.update({row.id: row.id for row in conn.execute(query)})
        return found


def _no_lead(event: EventInput) -> str:
    if event.email:
        return f"email: no lead with email {event.email!r} in this project"
    return f"lead_id: no lead {event.lead_id} in this project"


def ingest_events(
    engine: Bind,
    project: Project,
    records: Iterable[tuple[int, Mapping[str, Any]]],
    clock: Clock = SYSTEM_CLOCK,
    on_error: ErrorCallback | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ImportReport:
    report = ImportReport()
    writer = EventWriter(engine, project, report, clock, on_error, batch_size)
    for location, record in records:
        writer.add(location, record)
    writer.close()
    return report


def read_jsonl(
    path: Path, on_progress: ProgressCallback | None = None
) -> Iterator[tuple[int, Any] | RowError]:
    """Each line's JSON value, or a RowError for a line that is not JSON."""
    with path.open("rb") as raw:
        for line_number, line in enumerate(raw, start=1):
            if on_progress:
                on_progress(len(line))
            text = line.strip()
            if not text:
                continue
            try:
                yield line_number, json.loads(text.decode("utf-8-sig"))
            except UnicodeDecodeError:
                yield RowError(line_number, "not valid UTF-8; save the file as UTF-8")
            except ValueError as exc:
                yield RowError(line_number, f"not valid JSON ({_json_reason(exc)})")


def _json_reason(exc: ValueError) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def import_events_jsonl(
    engine: Engine,
    project: Project,
    path: Path,
    clock: Clock = SYSTEM_CLOCK,
    on_progress: ProgressCallback | None = None,
    on_error: ErrorCallback | None = None,
) -> ImportReport:
    report = ImportReport()
    writer = EventWriter(engine, project, report, clock, on_error)
    for item in read_jsonl(path, on_progress):
        if isinstance(item, RowError):
            writer.fail(item.location, item.message)
        else:
            writer.add(*item)
    writer.close()
    refresh_sqlite_statistics(engine, report.counts.accepted)
    return report
