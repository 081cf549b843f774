"""CSV exports of leads, streamed: constant memory and no row cap whatever the size.

PostgreSQL produces the CSV itself (COPY ... TO STDOUT), which is several times faster than
formatting rows in Python; SQLite streams rows through a cursor and `csv_field` formats them.
Both produce the same bytes.

Which columns, and in which order, the caller chooses from `EXPORT_COLUMNS` (`?columns=`,
`--columns`); by default the reference's seven, `DEFAULT_COLUMNS`.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Engine

from segmint.engine import answering
from segmint.engine.leads import full_name, in_project
from segmint.errors import InvalidInput
from segmint.index import Audience
from segmint.index.packed import PackedTexts
from segmint.projects import Project
from segmint.store.tables import leads

CHUNK_ROWS = 2000
CHUNK_BYTES = 64 * 1024
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = "^[-+]?[0-9]+([.][0-9]+)?$"
PLAIN_NUMBER_RE = re.compile(PLAIN_NUMBER)
# The index's exports are formatted this many rows at a time: memory stays bounded.
INDEX_CHUNK_ROWS: Final = 20_000
# How a distinct value is written, decided once per value (the column keeps the answer): as it
# is (most values), after a `'` (a formula start, such as every `+1-...` phone), or through its
# field function (quoted, trimmed, empty for null).
AS_IS: Final = 0
DEFUSED: Final = 1
FORMATTED: Final = 2
# Every text its field function may change matches (the converse need not hold): a character
# that quotes, a formula start, an edge space (names are trimmed), nothing at all, or `\.`
# (quoted when it is a row's one field, as COPY does).
MAY_CHANGE: Final = re.compile(r'[,"\r\n]|^[-=+@\t ]| $|^$|^\\\.$')
# The same, over texts joined with NULs (never inside a stored text), one scan each.
SEPARATOR: Final = "\x00"
QUOTED_CHARACTER: Final = re.compile('[,"\r\n]')
FORMULA_START: Final = re.compile("\x00[-=+@\t]")  # \r is a quoted character
PLAIN_NUMBER_TEXT: Final = re.compile("\x00[-+][0-9]+(?:[.][0-9]+)?(?=\x00)")
LEADING_SPACE: Final = re.compile("\x00 ")
TRAILING_SPACE: Final = re.compile(" \x00")
END_OF_DATA: Final = re.compile(r"\x00\\\.(?=\x00)")  # `\.`, quoted as a row's one field
# Tags are written in one cell joined with this: what the importer splits on (besides a comma,
# which would make every cell of two tags need quotes).
TAG_SEPARATOR: Final = "; "


def export_filename(name: str) -> str:
    """`{name}_export.csv`, with every character but letters, digits, - and _ made `_`."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) + "_export.csv"


def defused(text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`text` with a leading `'` where a spreadsheet would run it as a formula (OWASP's advice
    against CSV injection): it starts with = + - @ tab or carriage return. A plain number
    (`-5`, `+4930123456`, `-0.5`) is left alone: it holds no formula, and phone numbers and
    amounts stay numbers. Done in SQL so that COPY and SQLite produce the same bytes."""
    text = sa.type_coerce(text, sa.String())
    like_a_formula = sa.func.substr(text, 1, 1).in_(FORMULA_STARTS)
    # Python's `$` (SQLite's REGEXP) also matches before a final newline; PostgreSQL's does not.
    plain_number = text.regexp_match(PLAIN_NUMBER) & ~text.contains("\n")
    return sa.case((like_a_formula & ~plain_number, sa.literal("'").concat(text)), else_=text)


def export_query(
    where: sa.ColumnElement[bool], columns: Sequence[CsvColumn], *, by_copy: bool
) -> sa.Select[Any]:
    """The rows of an export, in a stable order (creation, then id): each cell as COPY writes
    it (`by_copy`), else as SQLite reads it for `_python_csv`."""
    reads = [column.read(by_copy).label(column.key) for column in columns]
    return sa.select(*reads).where(where).order_by(leads.c.created_at, leads.c.id)


def export_audience(
    conn: sa.Connection,
    engine: Engine,
    project: Project,
    audience: Audience,
    now: datetime,
    columns: Sequence[CsvColumn],
) -> tuple[Iterator[bytes], str]:
    """The CSV of `columns` of every lead in `audience` at `now`, and who answered: the index
    (columns in memory, formatted in Python) or SQL (COPY on PostgreSQL). The same bytes either
    way. The index holds only text columns: a chosen column it has no writer for (a date, a
    number, the tags) leaves the export to SQL."""
    if all(column.field is not None for column in columns):
        keys = tuple(column.key for column in columns)
        indexed = answering.export_columns(conn, project, audience, keys, now)
        if indexed is not None:
            return _indexed_csv(indexed.value, columns), answering.INDEX
    where = answering.sql_condition(conn, project, audience, now)
    scoped = in_project(project, where if where is not None else sa.true())
    return stream_csv(engine, scoped, columns), answering.SQL


def _indexed_csv(values: answering.ExportColumns, columns: Sequence[CsvColumn]) -> Iterator[bytes]:
    """The CSV of the index's columns, a chunk of rows at a time: per column a gather of
    ready-written pieces, then one join of the whole chunk. No Python call per row but for
    the rare values that need quoting. The pieces are bytes: a packed column's values are
    sliced from its chunks as they are stored, never decoded.

    Each field is preceded by its lead: the `,` before it, or before a row's first field the
    newline that ends the row before (none in a chunk's first row). A `'` that defuses a
    formula goes in the lead, so a value that needs only that is never copied."""
    yield _header(columns)
    total = len(values[0].codes)
    writers = [
        _writer(column, field, "\n" if at == 0 else ",", total)
        for at, (column, field) in enumerate(zip(values, _index_fields(columns), strict=True))
    ]
    per_row = sum(writer.pieces for writer in writers)
    for start in range(0, total, INDEX_CHUNK_ROWS):
        stop = min(start + INDEX_CHUNK_ROWS, total)
        pieces: list[bytes] = [b","] * (per_row * (stop - start))
        at = 0
        for writer in writers:
            writer.write(pieces, at, per_row, start, stop)
            at += writer.pieces
        pieces[0] = pieces[0][1:]  # the chunk's first row follows no row of its own
        pieces.append(b"\n")
        yield b"".join(pieces)


_Field = Callable[[object], str]
# A table is written for a column with at most this share of distinct values per row exported
# (each is written whether used or not); a column with more has its values gathered.
TABLE_SHARE: Final = 8


class _Table:
    """A column with few distinct values for the rows exported (status, source, company...):
    each value written once after its lead, then gathered: one piece a row."""

    pieces = 1

    def __init__(self, column: answering.ExportColumn, kinds: np.ndarray, field: _Field, lead: str):
        self.codes = column.codes
        values = column.values[: len(kinds)]
        self.table = [
            (lead + _written(value, kind, field)).encode()
            for value, kind in zip(values, kinds.tolist(), strict=True)
        ]

    def write(self, pieces: list[bytes], at: int, step: int, start: int, stop: int) -> None:
        pieces[at::step] = _picked(self.table, self.codes[start:stop])


class _Gather:
    """A column of values nearly distinct per lead (name, email, phone): the values themselves
    are gathered, and the few that need more than a `'` written; two pieces a row, the lead
    and the value."""

    pieces = 2

    def __init__(self, column: answering.ExportColumn, kinds: np.ndarray, field: _Field, lead: str):
        self.values = column.values
        self.codes = column.codes
        self.kinds = kinds
        # Made after the codes were read, so it holds every value they name.
        self.slices = self.values.slices() if isinstance(self.values, PackedTexts) else None
        self.field = field
        self.leads = (lead.encode(), (lead + "'").encode())  # by whether the value is defused

    def write(self, pieces: list[bytes], at: int, step: int, start: int, stop: int) -> None:
        codes = self.codes[start:stop]
        kinds = self.kinds[codes]
        defused = kinds == DEFUSED
        if defused.all():
            pieces[at::step] = [self.leads[1]] * len(codes)
        elif defused.any():
            pieces[at::step] = _picked(self.leads, defused.view(np.uint8))
        elif self.leads[0] != b",":  # else the pieces start out as commas
            pieces[at::step] = [self.leads[0]] * len(codes)
        pieces[at + 1 :: step] = self._fields(codes, np.flatnonzero(kinds == FORMATTED))

    def _fields(self, codes: np.ndarray, formatted: np.ndarray) -> list[bytes]:
        """The values of `codes` in UTF-8, with those at `formatted` written by the field
        function. A packed column's are sliced from its chunks (no str a value); a list's are
        gathered as str and encoded once written (a null among them is formatted, so text)."""
        packed = self.slices is not None
        fields: list[Any] = (
            self.slices(codes) if self.slices is not None else list(_picked(self.values, codes))
        )
        written: dict[int, Any] = {}  # null and other repeated values: written once a chunk
        for at, code in zip(formatted.tolist(), codes[formatted].tolist(), strict=True):
            text = written.get(code)
            if text is None:
                text = self.field(self.values[code])
                written[code] = text = text.encode() if packed else text
            fields[at] = text
        return fields if packed else list(map(str.encode, fields))


def _written(value: Any, kind: int, field: _Field) -> str:
    if kind == AS_IS:
        return str(value)
    return "'" + value if kind == DEFUSED else field(value)


def _writer(
    column: answering.ExportColumn, field: _Field, lead: str, rows: int
) -> _Table | _Gather:
    kinds = column.column.per_value(f"export:{field.__name__}", _kinds_of(field))
    if len(kinds) * TABLE_SHARE <= rows:
        return _Table(column, kinds, field, lead)
    return _Gather(column, kinds, field, lead)


def _index_fields(columns: Sequence[CsvColumn]) -> list[_Field]:
    """How the index writes each column: by its field function, or, for a row's one field,
    by the same function quoting `\\.` as COPY does."""
    fields = [column.field for column in columns if column.field is not None]
    assert len(fields) == len(columns), "the index writes text columns only"
    return [LONE_FIELDS[fields[0]]] if len(fields) == 1 else fields


def _picked(values: Sequence[Any], codes: np.ndarray) -> Sequence[Any]:
    picked: Sequence[Any] = operator.itemgetter(*codes.tolist())(values)
    return [picked] if len(codes) == 1 else picked  # of one index, itemgetter gives the value


def _kinds_of(field: _Field) -> Callable[[Sequence[object]], np.ndarray]:
    """How `field` (`_text_field`, `_name_field` or their lone forms) writes each of some
    values: AS_IS, DEFUSED or FORMATTED (uint8), `_kind` of each."""

    def kinds(values: Sequence[object]) -> np.ndarray:
        return _kinds(values, field)

    return kinds


def _kinds(values: Sequence[object], field: _Field) -> np.ndarray:
    """`_kind` of each value, found by a few regex scans over the values joined with NULs (a
    million values in a fraction of a second, where one `_kind` call each takes seconds): a
    formula start is DEFUSED unless it is a plain number; a value that may need quoting or
    trimming, an empty one and null are left to `_kind`; the rest are AS_IS."""
    texts = [value if isinstance(value, str) else "" for value in values]
    joined = SEPARATOR + SEPARATOR.join(texts) + SEPARATOR
    if joined.count(SEPARATOR) != len(texts) + 1:  # a NUL in a text (never stored): slowly
        return np.fromiter((_kind(field, value) for value in values), np.uint8, len(values))
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    starts = np.cumsum(lengths + 1) - lengths  # where each text begins in `joined`

    def entries(pattern: re.Pattern[str], offset: int) -> np.ndarray:
        at = np.fromiter((m.start() + offset for m in pattern.finditer(joined)), np.int64)
        return np.searchsorted(starts, at, side="right") - 1

    kinds = np.full(len(texts), AS_IS, np.uint8)
    kinds[entries(FORMULA_START, 1)] = DEFUSED
    kinds[entries(PLAIN_NUMBER_TEXT, 1)] = AS_IS
    unsure = np.zeros(len(texts), bool)
    unsure[entries(QUOTED_CHARACTER, 0)] = True
    unsure[entries(LEADING_SPACE, 1)] = True
    unsure[entries(TRAILING_SPACE, 0)] = True
    unsure[entries(END_OF_DATA, 1)] = True
    unsure |= lengths == 0  # empty, or not a text at all
    for at in np.flatnonzero(unsure).tolist():
        kinds[at] = _kind(field, values[at])
    return kinds


def _kind(field: Callable[[object], str], value: object) -> int:
    if isinstance(value, str) and MAY_CHANGE.search(value) is None:
        return AS_IS
    written = field(value)
    if written == value:
        return AS_IS
    if isinstance(value, str) and written == "'" + value:
        return DEFUSED
    return FORMATTED


def defuse_text(text: str | None) -> str | None:
    """`defused`, in Python (the index's exports): the same rule, the same bytes."""
    if text is None or text[:1] not in FORMULA_STARTS:
        return text
    if PLAIN_NUMBER_RE.match(text) and "\n" not in text:
        return text
    return "'" + text


def _text_field(value: object) -> str:
    return csv_field(defuse_text(value if isinstance(value, str) else None))


def _name_field(value: object) -> str:
    # The index keeps `first last` as the filter reads it; the export trims it (SQL's trim:
    # spaces only) and writes nothing for a lead with no name.
    name = value.strip(" ") if isinstance(value, str) else ""
    return _text_field(name or None)


def _lone_text_field(value: object) -> str:
    return lone_field(_text_field(value))


def _lone_name_field(value: object) -> str:
    return lone_field(_name_field(value))


LONE_FIELDS: Final[dict[_Field, _Field]] = {
    _text_field: _lone_text_field,
    _name_field: _lone_name_field,
}


# -- the columns an export may hold ------------------------------------------------------------


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class CsvColumn:
    """A column an export may hold: its key (`?columns=`), its header, and how each engine
    writes its cell, so that all write the same bytes.

    `sql` is the cell's text in SQL, defused, as COPY writes it. Where SQLite cannot write it
    the same in SQL (a float's shortest digits, tags in their order), `stored` is what SQLite
    reads and `written` the text Python makes of it. `field` is how the index writes the
    column from its text column of the same key; a column without one is left to SQL."""

    key: str
    header: str
    sql: Callable[[], sa.ColumnElement[Any]]
    default: bool = False
    field: _Field | None = None
    stored: Callable[[], sa.ColumnElement[Any]] | None = None
    written: Callable[[Any], str | None] = _same

    def read(self, by_copy: bool) -> sa.ColumnElement[Any]:
        return self.sql() if by_copy or self.stored is None else self.stored()


def _text(key: str, header: str, default: bool = False, field: _Field = _text_field) -> CsvColumn:
    """A text column of the lead, defused, which the index holds as SQL reads it."""
    return CsvColumn(key, header, lambda: defused(_stored_text(key)), default, field)


def _stored_text(key: str) -> sa.ColumnElement[Any]:
    if key == "name":
        # NULL rather than '' for a lead with no name: COPY writes '' as "" but NULL as nothing.
        return sa.func.nullif(full_name(), "")
    return leads.c[key]


def _created_sql() -> sa.ColumnElement[Any]:
    return sa.func.to_char(
        sa.func.timezone("UTC", leads.c.created_at), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
    )


def _instant_text(at: datetime) -> str:
    """ISO 8601 in UTC to the second, as `_created_sql` writes it (to_char truncates too)."""
    return at.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _tags_sql() -> sa.ColumnElement[Any]:
    """The tags joined in their stored order (NULL for none, as `_tags_text` writes it)."""
    each = (
        sa.func.jsonb_array_elements_text(leads.c.tags)
        .table_valued("value", with_ordinality="at")
        .render_derived()  # names the columns: `AS anon_1(value, at)`
    )
    separator = aggregate_order_by(sa.literal(TAG_SEPARATOR, sa.Text), each.c.at)
    joined = sa.func.string_agg(each.c.value, separator, type_=sa.Text)
    return defused(sa.select(joined).select_from(each).scalar_subquery())


def _tags_text(tags: Sequence[str]) -> str | None:
    return defuse_text(TAG_SEPARATOR.join(tags) or None)


def _number_text(value: float) -> str:
    """A float as PostgreSQL (12 and later) writes a double precision: its shortest digits that
    read back the same (`_shortest_digits`), fixed-point from 1e-4 up to 1e15, else with an
    exponent of at least two digits; "0" rather than "0.0"."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    shortest = _shortest_digits(abs(value)).normalize()
    digits = "".join(map(str, shortest.as_tuple().digits))
    point = shortest.adjusted()  # the power of ten of the first digit
    if not -4 <= point < 15:
        fraction = "." + digits[1:] if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{fraction}e{'-' if point < 0 else '+'}{abs(point):02d}"
    if point < 0:
        return f"{sign}0.{'0' * (-point - 1)}{digits}"
    whole, fraction = digits[: point + 1].ljust(point + 1, "0"), digits[point + 1 :]
    return f"{sign}{whole}.{fraction}" if fraction else sign + whole


def _shortest_digits(value: float) -> Decimal:
    """The fewest digits that read back as `value` (a finite float), as PostgreSQL finds them.
    Python's repr finds the same, but may take digits on the very edge of the values that read
    back as `value` (reading rounds half to even, towards it), which PostgreSQL never does: it
    takes a digit more there (57037124590350416, not 57037124590350420)."""
    exact = Decimal(value)
    below = exact - Decimal(math.nextafter(value, -math.inf))
    above = Decimal(math.nextafter(value, math.inf)) - exact

    def inside(digits: Decimal) -> bool:  # nearer to `value` than half way to a neighbour
        return 2 * abs(digits - exact) < (above if digits > exact else below)

    digits = Decimal(repr(value))
    count = len(digits.as_tuple().digits)
    while not inside(digits) and count < 17:  # 17 digits always read back
        count += 1
        digits = Decimal(f"{value:.{count - 1}e}")  # correctly rounded to `count` digits
    return digits


EXPORT_COLUMNS: Final[tuple[CsvColumn, ...]] = (
    # The reference's seven, its default export's order.
    _text("name", "Name", True, _name_field),
    _text("email", "Email", True),
    _text("phone", "Phone", True),
    _text("company", "Company", True),
    _text("job_title", "Job Title", True),
    _text("source", "Source", True),
    _text("status", "Status", True),
    # What a marketer also asks a sheet of leads for.
    CsvColumn(
        "created_at",
        "Created",
        _created_sql,
        stored=lambda: leads.c.created_at,
        written=_instant_text,
    ),
    CsvColumn("tags", "Tags", _tags_sql, stored=lambda: leads.c.tags, written=_tags_text),
    _text("owner", "Owner"),
    _text("country", "Country"),
    # A number is no formula (`-5` is left alone like a plain number): never defused.
    CsvColumn(
        "engagement_score",
        "Engagement Score",
        lambda: leads.c.engagement_score,
        stored=lambda: leads.c.engagement_score,
        written=_number_text,
    ),
    _text("engagement_level", "Engagement Level"),
    _text("profile_level", "Profile Level"),
)
COLUMNS_BY_KEY: Final = {column.key: column for column in EXPORT_COLUMNS}
DEFAULT_COLUMNS: Final = tuple(column for column in EXPORT_COLUMNS if column.default)


def chosen_columns(keys: str | None) -> tuple[CsvColumn, ...]:
    """The columns `keys` names (`name,email,tags`: keys separated by commas, in the order
    wanted, spaces around them ignored); `DEFAULT_COLUMNS` when None. An unknown or repeated
    key, or none at all, is refused naming the choices (path `columns`)."""
    if keys is None:
        return DEFAULT_COLUMNS
    choices = ", ".join(COLUMNS_BY_KEY)
    names = [key.strip() for key in keys.split(",")] if keys.strip() else []
    if not names:
        raise InvalidInput(f"choose at least one column of {choices}", "columns")
    chosen: list[CsvColumn] = []
    for name in names:
        column = COLUMNS_BY_KEY.get(name)
        if column is None:
            raise InvalidInput(f"unknown column {name!r}; choose from {choices}", "columns")
        if column in chosen:
            raise InvalidInput(f"column {name!r} is chosen twice", "columns")
        chosen.append(column)
    return tuple(chosen)


def stream_csv(
    engine: Engine, where: sa.ColumnElement[bool], columns: Sequence[CsvColumn]
) -> Iterator[bytes]:
    """The CSV bytes of `columns` of every lead matching `where` (which must scope by
    project)."""
    if engine.dialect.name == "postgresql":
        yield from _copy_csv(engine, export_query(where, columns, by_copy=True), columns)
    else:
        yield from _python_csv(engine, export_query(where, columns, by_copy=False), columns)


def _copy_csv(
    engine: Engine, query: sa.Select[Any], columns: Sequence[CsvColumn]
) -> Iterator[bytes]:
    compiled = query.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    # psycopg binds the parameters into COPY client-side with proper quoting.
    statement = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv, HEADER false)"
    yield _header(columns)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(statement, compiled.params) as copy:  # type: ignore[attr-defined]
            # COPY hands over one row at a time; send ~64 KB pieces, not 100,000 tiny ones.
            pending = bytearray()
            for block in copy:
                pending += block
                if len(pending) >= CHUNK_BYTES:
                    yield bytes(pending)
                    pending.clear()
            if pending:
                yield bytes(pending)


def _python_csv(
    engine: Engine, query: sa.Select[Any], columns: Sequence[CsvColumn]
) -> Iterator[bytes]:
    yield _header(columns)
    line = _line_writer(columns)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(query)
        for rows in result.partitions():
            yield "".join(map(line, rows)).encode()


def _line_writer(columns: Sequence[CsvColumn]) -> Callable[[Sequence[Any]], str]:
    """How `_python_csv` writes a row SQLite read: the cells SQL could not write made text by
    Python, then each as COPY quotes it. The reference's seven need neither: one join a row."""
    if len(columns) == 1:
        written = columns[0].written
        return lambda row: lone_field(csv_field(written(row[0]))) + "\n"
    by_python = [(at, column.written) for at, column in enumerate(columns) if column.stored]
    if not by_python:
        return lambda row: ",".join(map(csv_field, row)) + "\n"

    def line(row: Sequence[Any]) -> str:
        cells = list(row)
        for at, written in by_python:
            cells[at] = written(cells[at])
        return ",".join(map(csv_field, cells)) + "\n"

    return line


def csv_field(value: Any) -> str:
    """One CSV field of a row of several, quoted exactly as PostgreSQL's COPY ... CSV does, so
    both backends agree.

    (Python's csv module does not quote a lone carriage return; COPY does. COPY quotes `\\.`
    only when it is a row's one field, where it would read as the end of the data: `lone_field`
    does that for an export of one column.)
    """
    if value is None:
        return ""
    text = str(value)
    if text == "" or any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def lone_field(written: str) -> str:
    """A field `csv_field` wrote, as COPY writes it when it is a row's one field."""
    return '"\\."' if written == "\\." else written


def _header(columns: Sequence[CsvColumn]) -> bytes:
    return (",".join(column.header for column in columns) + "\n").encode()
