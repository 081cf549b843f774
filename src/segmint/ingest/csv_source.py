"""Reading lead CSV files: what each column feeds, line numbers, encodings, quotes, progress.

The file is read as a stream (constant memory whatever its size). Each record comes with the
line number it starts on, so errors point at the line a user sees in an editor. The CLI's
`--map`, the API's `mapping` and the import page's menus all go through `map_columns` and
`check_target`, and the page's check of a file's first 64 KB (`preview_csv`) reads it with the
same row reader (`csv_rows.read_rows`) as the import does.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from segmint.errors import InvalidInput
from segmint.filters.fields import ENRICHMENT_LABELS, split_path, standard_fields
from segmint.ingest.batches import RowError
from segmint.ingest.csv_rows import (
    ENCODING_LABELS,
    SAMPLE_BYTES,
    CsvRow,
    codec_of,
    decode_sample,
    read_rows,
    text_lines,
)
from segmint.model import LEAD_WRITABLE
from segmint.projects import Project

IGNORE = "-"  # `--map Column=-` drops a column
SAMPLES_PER_COLUMN = 3  # values the import page shows beside each column
SAMPLE_CHARS = 60  # a longer sample value is cut (the page shows the rest on hover)
MAX_PROBLEMS = 20  # problems listed from a file's first 64 KB; a broken file has one per line

# Header spellings users bring from other tools, by the field they mean. Headers are compared
# without case, spaces, '-', '_' or other punctuation (`compact_header`), so "Sign-up date",
# "signup_date" and "SignupDate" are one spelling. A field's own name always matches too.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("Email Address", "E-mail Address", "Work Email", "Email 1"),
    "first_name": ("First", "Given Name", "Forename"),
    "last_name": ("Last", "Surname", "Family Name"),
    "name": ("Full Name", "Contact Name", "Lead Name"),
    "company": ("Org", "Organization", "Organisation", "Company Name", "Account Name"),
    "job_title": ("Title", "Job", "Position", "Role"),
    "phone": ("Phone Number", "Mobile", "Mobile Phone", "Mobile Number", "Cell", "Telephone"),
    "status": ("Lead Status",),
    "source": ("Lead Source",),
    "owner": ("Assigned To", "Owner Email", "Lead Owner", "Contact Owner"),
    "tags": ("Tag", "Labels"),
    "country": ("Country/Region", "Country Name"),
    "group_name": ("Group",),
    "engagement_score": ("Score", "Lead Score"),
    "created_at": (
        "Created",
        "Created Date",
        "Created On",
        "Date Created",
        "Signup Date",
        "Signed Up",
        "Registration Date",
    ),
    "last_contacted_at": ("Last Contacted", "Last Contact Date"),
    "last_activity_at": ("Last Activity", "Last Activity Date"),
    "enrichment.company.size": ("Company Size", "Employees", "Number of Employees"),
    "enrichment.company.industry": ("Industry",),
    "enrichment.company.revenue": ("Revenue", "Annual Revenue"),
    "enrichment.person.seniority_level": ("Seniority",),
    "enrichment.person.location.city": ("City",),
}

# Leads are matched by email alone. A file without one still imports (leads without an email
# are valid), but the user must know that importing it again cannot update them.
NO_EMAIL_WARNING = (
    "no column maps to email, so rows cannot be matched to existing leads: every row creates a "
    "new lead, and importing the file again duplicates them. To update leads instead, map the "
    'column holding emails to email (--map "Column=email"; the API\'s mapping {"Column": "email"})'
)

ProgressCallback = Callable[[int], None]
TargetGroup = Literal["Standard", "Enrichment", "Custom"]

# Targets that take a whole JSON object: every custom value, or the whole enrichment.
WHOLE_OBJECTS: dict[str, str] = {
    "custom": "Custom fields (a JSON object)",
    "enrichment": "Enrichment (a JSON object)",
}
_STANDARD_LABELS = {"name": "Full name (split into first and last)"} | {
    spec.name: spec.label for spec in standard_fields() if spec.name in LEAD_WRITABLE
}


@dataclass(frozen=True)
class ImportTarget:
    """A field a CSV column may feed, as a menu offers it."""

    value: str
    label: str
    group: TargetGroup


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


def compact_header(name: str) -> str:
    """A header as compared with field names and aliases: lower case, letters and digits only."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def import_targets(project: Project) -> list[ImportTarget]:
    """What a column may feed: every standard field, the known enrichment paths (any other
    dotted path passes `check_target` too) and every declared custom field."""
    targets = [ImportTarget(name, label, "Standard") for name, label in _STANDARD_LABELS.items()]
    targets += [
        ImportTarget(path, label, "Enrichment") for path, label in ENRICHMENT_LABELS.items()
    ]
    targets.append(ImportTarget("enrichment", WHOLE_OBJECTS["enrichment"], "Enrichment"))
    targets += [
        ImportTarget(f"custom.{key}", definition.label, "Custom")
        for key, definition in project.custom_fields.items()
    ]
    targets.append(ImportTarget("custom", WHOLE_OBJECTS["custom"], "Custom"))
    return targets


def check_target(target: str, project: Project) -> None:
    """Refuse (InvalidInput, no path) a target no lead record may carry.

    An enrichment path must be one the filters can read back (`split_path`'s rule), or the
    imported value could never be used in a segment.
    """
    if target in _STANDARD_LABELS or target in WHOLE_OBJECTS:
        return
    head, _, rest = target.partition(".")
    if head == "custom" and rest in project.custom_fields:
        return
    if head == "custom":
        raise InvalidInput(f"unknown field {target!r}: declare the custom field {rest!r} first")
    if head == "enrichment":
        try:
            split_path(rest)
        except InvalidInput as error:
            raise InvalidInput(f"unknown field {target!r}: {error.message}") from None
        return
    raise InvalidInput(f"unknown field {target!r}")


def map_columns(
    header: list[str],
    project: Project,
    overrides: dict[str, str],
    option: str = "--map",
    drop_guessed_duplicates: bool = False,
) -> ColumnMapping:
    """Resolve each header to a field: the explicit choice (`overrides`), else a guess.

    Explicit choices claim their field first. Two columns for one field would overwrite each
    other row by row, so two explicit ones are an error, and so is a guess colliding with
    either unless `drop_guessed_duplicates` (the import page's first guess: the user sees the
    later column as ignored and may change it).
    """
    unknown_overrides = set(overrides) - set(header)
    if unknown_overrides:
        raise InvalidInput(
            f"no column named {sorted(unknown_overrides)[0]!r} in the header", option
        )
    chosen = {name: _chosen(name, overrides[name], project, option) for name in overrides}
    column_of: dict[str, str] = {}
    for name, target in chosen.items():
        if target is not None and target in column_of:
            raise InvalidInput(_both(column_of[target], name, target, option), option)
        if target is not None:
            column_of[target] = name
    guesses = _guesses(project)
    mapping = ColumnMapping(targets=[])
    for name in header:
        target = chosen[name] if name in chosen else guesses.get(compact_header(name))
        if name not in chosen and target in column_of:
            if not drop_guessed_duplicates:
                raise InvalidInput(_both(column_of[target], name, target, option), "line 1")
            target = None
        if target is None:
            mapping.ignored.append(name)
        else:
            column_of[target] = name
        mapping.targets.append(target)
    return mapping


def _chosen(name: str, target: str, project: Project, option: str) -> str | None:
    if target == IGNORE:
        return None
    try:
        check_target(target, project)
    except InvalidInput as error:
        raise InvalidInput(f"{name}={target}: {error.message}", option) from None
    return target


def _both(first: str, second: str, target: str, option: str) -> str:
    advice = f"ignore one with --map {second!r}=-" if option == "--map" else "ignore one of them"
    return f"columns {first!r} and {second!r} both map to {target}: {advice}"


def _guesses(project: Project) -> dict[str, str]:
    """Compact header -> target: field names first, then aliases, then custom keys and labels."""
    guesses = {compact_header(name): name for name in (*_STANDARD_LABELS, *ENRICHMENT_LABELS)}
    for target, spellings in HEADER_ALIASES.items():
        for spelling in spellings:
            guesses.setdefault(compact_header(spelling), target)
    for key, definition in project.custom_fields.items():
        guesses.setdefault(compact_header(key), f"custom.{key}")
        guesses.setdefault(compact_header(definition.label), f"custom.{key}")
    return guesses


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


def wrong_width(expected: int, found: int) -> str:
    return f"expected {expected} fields as in the header, found {found}"


@dataclass
class CsvRecords:
    """A CSV file's records as `(line, {field: value})`; malformed lines go to `errors`."""

    path: Path
    project: Project
    overrides: dict[str, str] = field(default_factory=dict)
    on_progress: ProgressCallback | None = None
    on_error: Callable[[RowError], None] | None = None
    mapping: ColumnMapping | None = None
    encoding: str = "utf-8"
    mapping_option: str = "--map"  # what errors in `overrides` name: the CLI's or the API's

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        codec = codec_of(self.encoding)
        self._check_encoding()
        with self.path.open("rb") as raw:
            counted = io.BufferedReader(_CountingReader(raw, self.on_progress))
            # surrogateescape keeps bytes past the checked start, so their row can be reported.
            text = io.TextIOWrapper(counted, encoding=codec, errors="surrogateescape", newline="")
            rows = read_rows(text)
            header = self._header(rows)
            yield from self._records(rows, header)

    def _check_encoding(self) -> None:
        """A file whose first 64 KB are in another encoding is refused before a row is written
        (the import page checks the same bytes); past them, a bad row fails on its own."""
        with self.path.open("rb") as raw:
            start = raw.read(SAMPLE_BYTES + 1)
        decode_sample(start[:SAMPLE_BYTES], self.encoding, complete=len(start) <= SAMPLE_BYTES)

    def _header(self, rows: Iterator[CsvRow]) -> list[str]:
        first = next(rows, None)
        if first is None:
            raise InvalidInput("the file is empty: expected a header line", "line 1")
        if first.cells is None:
            raise InvalidInput(f"the header: {first.problem}", "line 1")
        if _undecodable("".join(first.cells)):
            label = ENCODING_LABELS[self.encoding]
            raise InvalidInput(f"the header is not {label}: save the file as UTF-8", "line 1")
        header = [name.strip() for name in first.cells]
        self.mapping = map_columns(header, self.project, self.overrides, self.mapping_option)
        if not any(self.mapping.targets):
            raise InvalidInput("no column matches a lead field (use --map COLUMN=field)", "line 1")
        return header

    def _records(
        self, rows: Iterator[CsvRow], header: list[str]
    ) -> Iterator[tuple[int, dict[str, str]]]:
        for row in rows:
            if row.cells is None:
                self._fail(row.line, row.problem or "malformed CSV")
            elif any(cell.strip() for cell in row.cells):  # blank lines are not records
                record = self._record(row.line, row.cells, header)
                if record is not None:
                    yield row.line, record

    def _record(self, line: int, row: list[str], header: list[str]) -> dict[str, str] | None:
        assert self.mapping is not None
        if len(row) != len(header):
            self._fail(line, wrong_width(len(header), len(row)))
            return None
        record: dict[str, str] = {}
        for name, target, value in zip(header, self.mapping.targets, row, strict=True):
            if target is None:
                continue
            if _undecodable(value):
                label = ENCODING_LABELS[self.encoding]
                self._fail(line, f"{name}: not valid {label}; save the file as UTF-8")
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


@dataclass(frozen=True)
class ColumnPreview:
    name: str
    target: str | None
    samples: list[str]  # the first distinct non-empty values, cut to SAMPLE_CHARS


@dataclass(frozen=True)
class CsvProblem:
    """Something the import would report; errors stop the import page, warnings do not."""

    line: int
    level: Literal["error", "warning"]
    message: str


@dataclass(frozen=True)
class CsvPreview:
    columns: list[ColumnPreview]
    problems: list[CsvProblem]


def preview_csv(
    sample: bytes,
    project: Project,
    overrides: dict[str, str],
    encoding: str = "utf-8",
    complete: bool = True,
) -> CsvPreview:
    """What importing a file would do, from its first bytes: the field each column feeds, a few
    values of each, and the problems the import would report on these lines.

    Raises InvalidInput when the sample cannot be read at all (another encoding, no header).
    `complete` false: the sample is the start of a longer file.
    """
    text = decode_sample(sample, encoding, complete)
    rows = read_rows(text_lines(text, complete), complete)
    first = next(rows, None)
    if first is None or not first.cells:
        if first is not None and first.cells is None:
            raise InvalidInput(f"the header: {first.problem}", "line 1")
        raise InvalidInput("the file is empty: expected a header line", "line 1")
    header = [name.strip() for name in first.cells]
    mapping = map_columns(header, project, overrides, "mapping", drop_guessed_duplicates=True)
    samples: list[list[str]] = [[] for _ in header]
    problems = _mapping_problems(mapping)
    for row in rows:
        problem = _row_problem(row, len(header))
        if problem is not None:
            problems.append(problem)
        elif len(row.cells or ()) == len(header):
            _add_samples(samples, row.cells or [])
    columns = [
        ColumnPreview(name, target, values)
        for name, target, values in zip(header, mapping.targets, samples, strict=True)
    ]
    return CsvPreview(columns, problems[:MAX_PROBLEMS])


def _mapping_problems(mapping: ColumnMapping) -> list[CsvProblem]:
    if not any(mapping.targets):
        return [CsvProblem(1, "error", "no column feeds a lead field: choose a field for one")]
    if "email" not in mapping.targets:
        return [CsvProblem(1, "warning", NO_EMAIL_WARNING)]
    return []


def _row_problem(row: CsvRow, width: int) -> CsvProblem | None:
    if row.cells is None:
        return CsvProblem(row.line, "warning" if row.cut_off else "error", row.problem or "")
    if len(row.cells) != width and any(cell.strip() for cell in row.cells):
        return CsvProblem(row.line, "warning", wrong_width(width, len(row.cells)))
    return None


def _add_samples(samples: list[list[str]], cells: list[str]) -> None:
    for values, cell in zip(samples, cells, strict=True):
        value = " ".join(cell.split())  # a value spanning lines reads on one
        if value and len(values) < SAMPLES_PER_COLUMN and _cut(value) not in values:
            values.append(_cut(value))


def _cut(value: str) -> str:
    return value if len(value) <= SAMPLE_CHARS else value[: SAMPLE_CHARS - 1] + "…"
