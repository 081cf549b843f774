"""CSV exports of leads, streamed: constant memory and no row cap whatever the size.

PostgreSQL produces the CSV itself (COPY ... TO STDOUT), which is several times faster than
formatting rows in Python; SQLite streams rows through a cursor and `csv_field` formats them.
Both produce the same bytes.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.engine import answering
from segmint.engine.leads import full_name, in_project
from segmint.index import Audience
from segmint.index.packed import PackedTexts
from segmint.projects import Project
from segmint.store.tables import leads

HEADER = ("Name", "Email", "Phone", "Company", "Job Title", "Source", "Status")
COLUMNS = ("name", "email", "phone", "company", "job_title", "source", "status")  # the same
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
# that quotes, a formula start, an edge space (names are trimmed), or nothing at all.
MAY_CHANGE: Final = re.compile(r'[,"\r\n]|^[-=+@\t ]| $|^$')
# The same, over texts joined with NULs (never inside a stored text), one scan each.
SEPARATOR: Final = "\x00"
QUOTED_CHARACTER: Final = re.compile('[,"\r\n]')
FORMULA_START: Final = re.compile("\x00[-=+@\t]")  # \r is a quoted character
PLAIN_NUMBER_TEXT: Final = re.compile("\x00[-+][0-9]+(?:[.][0-9]+)?(?=\x00)")
LEADING_SPACE: Final = re.compile("\x00 ")
TRAILING_SPACE: Final = re.compile(" \x00")


def export_filename(name: str) -> str:
    """`{name}_export.csv`, with every character but letters, digits, - and _ made `_`."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) + "_export.csv"


def _columns() -> list[sa.ColumnElement[Any]]:
    # NULL rather than '' for a lead with no name: COPY writes '' as "" but NULL as nothing.
    name = sa.func.nullif(full_name(), "")
    return [
        defused(name).label("name"),
        defused(leads.c.email).label("email"),
        defused(leads.c.phone).label("phone"),
        defused(leads.c.company).label("company"),
        defused(leads.c.job_title).label("job_title"),
        defused(leads.c.source).label("source"),
        defused(leads.c.status).label("status"),
    ]


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


def export_query(where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The rows of an export, in a stable order (creation, then id)."""
    return sa.select(*_columns()).where(where).order_by(leads.c.created_at, leads.c.id)


def export_audience(
    conn: sa.Connection, engine: Engine, project: Project, audience: Audience, now: datetime
) -> tuple[Iterator[bytes], str]:
    """The CSV of every lead in `audience` at `now`, and who answered: the index (columns in
    memory, formatted in Python) or SQL (COPY on PostgreSQL). The same bytes either way."""
    indexed = answering.export_columns(conn, project, audience, COLUMNS, now)
    if indexed is not None:
        return _indexed_csv(indexed.value), answering.INDEX
    where = answering.sql_condition(conn, project, audience, now)
    scoped = in_project(project, where if where is not None else sa.true())
    return stream_csv(engine, scoped), answering.SQL


def _indexed_csv(columns: answering.ExportColumns) -> Iterator[bytes]:
    """The CSV of the index's columns, a chunk of rows at a time: per column a gather of
    ready-written pieces, then one join of the whole chunk. No Python call per row but for
    the rare values that need quoting. The pieces are bytes: a packed column's values are
    sliced from its chunks as they are stored, never decoded.

    Each field is preceded by its lead: the `,` before it, or before a row's first field the
    newline that ends the row before (none in a chunk's first row). A `'` that defuses a
    formula goes in the lead, so a value that needs only that is never copied."""
    yield _header()
    total = len(columns[0].codes) if columns else 0
    writers = [
        _writer(column, _name_field if at == 0 else _text_field, "\n" if at == 0 else ",", total)
        for at, column in enumerate(columns)
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


def _picked(values: Sequence[Any], codes: np.ndarray) -> Sequence[Any]:
    picked: Sequence[Any] = operator.itemgetter(*codes.tolist())(values)
    return [picked] if len(codes) == 1 else picked  # of one index, itemgetter gives the value


def _kinds_of(field: _Field) -> Callable[[Sequence[object]], np.ndarray]:
    """How `field` (`_text_field` or `_name_field`) writes each of some values: AS_IS, DEFUSED
    or FORMATTED (uint8), `_kind` of each."""

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


def stream_csv(engine: Engine, where: sa.ColumnElement[bool]) -> Iterator[bytes]:
    """The CSV bytes of every lead matching `where` (which must scope by project)."""
    query = export_query(where)
    if engine.dialect.name == "postgresql":
        yield from _copy_csv(engine, query)
    else:
        yield from _python_csv(engine, query)


def _copy_csv(engine: Engine, query: sa.Select[Any]) -> Iterator[bytes]:
    compiled = query.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    # psycopg binds the parameters into COPY client-side with proper quoting.
    statement = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv, HEADER false)"
    yield _header()
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


def _python_csv(engine: Engine, query: sa.Select[Any]) -> Iterator[bytes]:
    yield _header()
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(query)
        for rows in result.partitions():
            yield "".join(",".join(map(csv_field, row)) + "\n" for row in rows).encode()


def csv_field(value: Any) -> str:
    """One CSV field of a row of several, quoted exactly as PostgreSQL's COPY ... CSV does, so
    both backends agree.

    (Python's csv module does not quote a lone carriage return; COPY does. COPY quotes `\\.`
    only when it is a row's one field, where it would read as the end of the data: never in
    an export's rows of seven.)
    """
    if value is None:
        return ""
    text = str(value)
    if text == "" or any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _header() -> bytes:
    return (",".join(HEADER) + "\n").encode()
