"""Reading lead CSV files: header mapping, line numbers, encoding problems, progress.

The file is read as a stream (constant memory whatever its size). Each record comes with the
line number it starts on, so errors point at the line a user sees in an editor.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from segmint.engine.values import is_known_target
from segmint.errors import InvalidInput
from segmint.ingest.batches import RowError
from segmint.projects import Project

FIELD_SIZE_LIMIT = 1_000_000  # characters in one cell; larger cells are reported, not read
IGNORE = "-"  # `--map Column=-` drops a column

# Header spellings users bring from other tools, after normalisation (lower case, `_`).
HEADER_ALIASES: dict[str, str] = {
    "email_address": "email",
    "e_mail": "email",
    "e_mail_address": "email",  # Outlook's export
    "first": "first_name",
    "firstname": "first_name",
    "given_name": "first_name",
    "last": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "full_name": "name",
    "company_name": "company",
    "organization": "company",
    "organisation": "company",
    "title": "job_title",
    "phone_number": "phone",
    "lead_status": "status",
    "lead_source": "source",
    "assigned_to": "owner",
    "owner_email": "owner",
    "group": "group_name",
    "score": "engagement_score",
    "created": "created_at",
    "created_date": "created_at",
    "last_contacted": "last_contacted_at",
    "last_contact_date": "last_contacted_at",
    "last_activity": "last_activity_at",
}

ProgressCallback = Callable[[int], None]


@dataclass
class ColumnMapping:
    """Which target field each CSV column feeds (None: ignored)."""

    targets: list[str | None]
    ignored: list[str] = field(default_factory=list)


def parse_map_options(options: list[str]) -> dict[str, str]:
    """`--map "Company Name=company"` options into a dict."""
    mapping: dict[str, str] = {}
    for option in options:
        column, sep, target = option.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise InvalidInput(f"expected COLUMN=field, got {option!r}", "--map")
        mapping[column.strip()] = target.strip()
    return mapping


def normalise_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def map_columns(header: list[str], project: Project, overrides: dict[str, str]) -> ColumnMapping:
    """Resolve each header to a field: explicit `--map`, then the name itself, then aliases."""
    unknown_overrides = set(overrides) - set(header)
    if unknown_overrides:
        raise InvalidInput(
            f"no column named {sorted(unknown_overrides)[0]!r} in the header", "--map"
        )
    mapping = ColumnMapping(targets=[])
    columns_by_target: dict[str, str] = {}
    for name in header:
        target = _target_for(name, project, overrides)
        mapping.targets.append(target)
        if target is None:
            mapping.ignored.append(name)
        elif target in columns_by_target:
            # Two columns for one field: one would silently overwrite the other, row by row.
            raise InvalidInput(
                f"columns {columns_by_target[target]!r} and {name!r} both map to {target}: "
                f"ignore one with --map {name!r}=-",
                "line 1",
            )
        else:
            columns_by_target[target] = name
    return mapping


def _target_for(name: str, project: Project, overrides: dict[str, str]) -> str | None:
    if name in overrides:
        target = overrides[name]
        if target == IGNORE:
            return None
        if not is_known_target(target, project):
            raise InvalidInput(f"{name}={target}: unknown field {target!r}", "--map")
        return target
    key = normalise_header(name)
    for candidate in (key, HEADER_ALIASES.get(key), f"custom.{key}"):
        if candidate and is_known_target(candidate, project) and candidate not in ("custom",):
            return candidate
    return None


class _CountingReader(io.RawIOBase):
    """Counts bytes as they are read, for a progress bar that needs no second pass."""

    def __init__(self, raw: IO[bytes], on_progress: ProgressCallback | None) -> None:
        self._raw = raw
        self._on_progress = on_progress
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        if self._on_progress:
            self._on_progress(len(data))
        return len(data)


def _undecodable(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


@dataclass
class CsvRecords:
    """A CSV file's records as `(line, {field: value})`; malformed lines go to `errors`."""

    path: Path
    project: Project
    overrides: dict[str, str] = field(default_factory=dict)
    on_progress: ProgressCallback | None = None
    on_error: Callable[[RowError], None] | None = None
    mapping: ColumnMapping | None = None

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        csv.field_size_limit(FIELD_SIZE_LIMIT)
        with self.path.open("rb") as raw:
            counted = io.BufferedReader(_CountingReader(raw, self.on_progress))
            # utf-8-sig drops a BOM; surrogateescape keeps bad bytes so they can be reported.
            text = io.TextIOWrapper(
                counted, encoding="utf-8-sig", errors="surrogateescape", newline=""
            )
            reader = csv.reader(text)
            header = self._header(reader)
            yield from self._records(reader, header)

    def _header(self, reader: Any) -> list[str]:
        try:
            header = next(reader)
        except StopIteration:
            raise InvalidInput("the file is empty: expected a header line", "line 1") from None
        if _undecodable("".join(header)):
            raise InvalidInput("the header is not UTF-8: save the file as UTF-8", "line 1")
        header = [name.strip() for name in header]
        self.mapping = map_columns(header, self.project, self.overrides)
        if not any(self.mapping.targets):
            raise InvalidInput("no column matches a lead field (use --map COLUMN=field)", "line 1")
        return header

    def _records(self, reader: Any, header: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
        assert self.mapping is not None
        previous_end = reader.line_num
        while True:
            start = previous_end + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self._fail(start, f"malformed CSV ({exc})")
                previous_end = reader.line_num
                continue
            previous_end = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue  # blank lines are not records
            record = self._record(start, row, header)
            if record is not None:
                yield start, record

    def _record(self, line: int, row: list[str], header: list[str]) -> dict[str, str] | None:
        assert self.mapping is not None
        if len(row) != len(header):
            self._fail(line, f"expected {len(header)} fields as in the header, found {len(row)}")
            return None
        record: dict[str, str] = {}
        for name, target, value in zip(header, self.mapping.targets, row, strict=True):
            if target is None:
                continue
            if _undecodable(value):
                self._fail(line, f"{name}: not valid UTF-8; save the file as UTF-8")
                return None
            record[target] = value
        if all(not value.strip() for value in record.values()):
            # Data only in ignored columns (a "Total" line, a note): no lead to create.
            self._fail(line, "no value for any lead field")
            return None
        return record

    def _fail(self, line: int, message: str) -> None:
        if self.on_error:
            self.on_error(RowError(line, message))
