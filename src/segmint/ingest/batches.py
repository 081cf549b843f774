"""Batch writing shared by every ingestion path (CSV and JSONL import, API bulk, demo data).

Rows are validated one by one, then written a batch per transaction. When a batch's write fails
(a constraint, a concurrent insert), it is rolled back and retried row by row, so one bad row
never costs the others and nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import sqlalchemy as sa

from segmint.errors import InvalidInput
from segmint.store.db import Bind, transaction

# After these many batches, PostgreSQL re-reads the statistics of the tables a load grows: a
# fresh table's stale statistics otherwise make its lookups scan instead of using the index.
ANALYZE_AFTER_BATCHES = frozenset({10, 100, 1000})
# Errors kept in a report (an API bulk request's worth); every one still reaches `on_error`.
MAX_KEPT_ERRORS = 10_000
DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True)
class RowError:
    location: int  # a line number (files) or an index (API requests)
    message: str


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    accepted: int = 0
    # Rows the write itself turned down (an unknown lead, say): reported, not counted.
    rejected: list[RowError] = field(default_factory=list)
    # Rows written without their owner, who is not a user (message: the owner named).
    unassigned: list[RowError] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.skipped += other.skipped
        self.accepted += other.accepted


@dataclass
class ImportReport:
    counts: Counts = field(default_factory=Counts)
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # about the whole file, not one row
    unassigned: list[RowError] = field(default_factory=list)  # see Counts.unassigned

    def record_error(self, error: RowError) -> None:
        self.failed += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(error)


class Located(Protocol):
    @property
    def location(self) -> int: ...


T = TypeVar("T", bound=Located)
ErrorCallback = Callable[[RowError], None]


def database_message(exc: sa.exc.DBAPIError) -> str:
    """The first line of the driver's message: enough to act on, no SQL or parameters."""
    return str(exc.orig).strip().splitlines()[0] if exc.orig else "database error"


class BatchWriter(Generic[T]):
    """Collects validated rows and writes them `batch_size` at a time."""

    def __init__(
        self,
        engine: Bind,
        write: Callable[[sa.Connection, list[T]], Counts],
        report: ImportReport,
        on_error: ErrorCallback | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        conflict_key: Callable[[T], object | None] = lambda _item: None,
        grows: tuple[str, ...] = (),
    ) -> None:
        self._engine = engine
        self._write = write
        self._report = report
        self._on_error = on_error
        self._batch_size = batch_size
        self._conflict_key = conflict_key
        self._batch: list[T] = []
        self._keys: set[object] = set()
        self._grows = grows
        self._batches_written = 0

    def add(self, item: T) -> None:
        key = self._conflict_key(item)
        if key is not None and key in self._keys:
            # The same key twice in one batch: write the first so the second sees it stored.
            self.flush()
        if key is not None:
            self._keys.add(key)
        self._batch.append(item)
        if len(self._batch) >= self._batch_size:
            self.flush()

    def add_all(self, items: Iterable[T]) -> None:
        for item in items:
            self.add(item)

    def fail(self, location: int, message: str) -> None:
        error = RowError(location, message)
        self._report.record_error(error)
        if self._on_error:
            self._on_error(error)

    def flush(self) -> None:
        batch, self._batch, self._keys = self._batch, [], set()
        if not batch:
            return
        try:
            self._count(self._transaction(batch))
        except (sa.exc.DBAPIError, InvalidInput):
            for item in batch:
                self._write_alone(item)
        self._batches_written += 1
        if self._batches_written in ANALYZE_AFTER_BATCHES:
            self._refresh_statistics()

    def _refresh_statistics(self) -> None:
        if self._engine.dialect.name != "postgresql" or not self._grows:
            return
        with transaction(self._engine) as conn:
            # Table names come from the caller's code (store.tables), never from input.
            conn.exec_driver_sql("ANALYZE " + ", ".join(self._grows))

    def _count(self, result: Counts) -> None:
        self._report.counts.add(result)
        self._report.unassigned.extend(result.unassigned)
        for error in result.rejected:
            self.fail(error.location, error.message)

    def _write_alone(self, item: T) -> None:
        try:
            self._count(self._transaction([item]))
        except sa.exc.DBAPIError as exc:
            self.fail(item.location, database_message(exc))
        except InvalidInput as exc:
            self.fail(item.location, str(exc))

    def _transaction(self, batch: list[T]) -> Counts:
        with transaction(self._engine) as conn:
            return self._write(conn, batch)
