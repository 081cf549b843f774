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
    """The CSV of the index's columns. Each field is the dictionary's own value where writing
    changes nothing, so a chunk is a gather per column and one join: no Python call per row
    except for the few values that need quoting or a `'` (and the latter are prefixed by one
    C-level map when a whole chunk of a column needs it)."""
    yield _header()
    fields = [_name_field, *([_text_field] * (len(columns) - 1))]
    kinds = [
        column.column.per_value(f"export:{field.__name__}", _kinds_of(field))
        for column, field in zip(columns, fields, strict=True)
    ]
    total = len(columns[0].codes) if columns else 0
    width = 2 * len(columns)  # each field and the `,` or newline after it
    for start in range(0, total, INDEX_CHUNK_ROWS):
        stop = min(start + INDEX_CHUNK_ROWS, total)
        pieces = [","] * (width * (stop - start))
        pieces[width - 1 :: width] = ["\n"] * (stop - start)
        for at, (column, kind, field) in enumerate(zip(columns, kinds, fields, strict=True)):
            codes = column.codes[start:stop]
            pieces[2 * at :: width] = _fields(column.values, codes, kind[codes], field)
        yield "".join(pieces).encode()


def _fields(
    values: Sequence[object],
    codes: np.ndarray,
    kinds: np.ndarray,
    field: Callable[[object], str],
) -> Sequence[Any]:
    """The CSV fields of `codes` (as many as rows): the values, with those few that writing
    changes written."""
    picked: Sequence[Any] = operator.itemgetter(*codes.tolist())(values)
    if len(codes) == 1:
        picked = [picked]  # itemgetter of one index gives the value, not a tuple
    defused = np.flatnonzero(kinds == DEFUSED)
    formatted = np.flatnonzero(kinds == FORMATTED)
    if not len(defused) and not len(formatted):
        return picked
    if len(defused) == len(codes):
        return list(map("'".__add__, picked))
    out = list(picked)
    for at in defused.tolist():
        out[at] = "'" + out[at]
    written: dict[int, str] = {}  # null and other repeated values are written once a chunk
    for at, code in zip(formatted.tolist(), codes[formatted].tolist(), strict=True):
        text = written.get(code)
        if text is None:
            text = written[code] = field(values[code])
        out[at] = text
    return out


def _kinds_of(field: Callable[[object], str]) -> Callable[[Sequence[object]], np.ndarray]:
    """How `field` writes each of some values: AS_IS, DEFUSED or FORMATTED (uint8)."""

    def kinds(values: Sequence[object]) -> np.ndarray:
        return np.fromiter((_kind(field, value) for value in values), np.uint8, len(values))

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
