"""CSV exports of leads, streamed: constant memory and no row cap whatever the size.

PostgreSQL produces the CSV itself (COPY ... TO STDOUT), which is several times faster than
formatting rows in Python; SQLite streams rows through a cursor and `csv_field` formats them.
Both produce the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

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
        formats = (_name_field, *([_text_field] * (len(COLUMNS) - 1)))
        lines = answering.formatted_rows(indexed.value, formats)
        return _encoded(lines), answering.INDEX
    where = answering.sql_condition(conn, project, audience, now)
    scoped = in_project(project, where if where is not None else sa.true())
    return stream_csv(engine, scoped), answering.SQL


def _encoded(lines: Iterator[str]) -> Iterator[bytes]:
    yield _header()
    for chunk in lines:
        yield chunk.encode()


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
