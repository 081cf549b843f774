"""The analyst's side of the bench: the project's leads and events exported to Parquet, and the
suite's counts answered by DuckDB over them.

Exports stream in constant memory: PostgreSQL writes CSV itself (COPY ... TO STDOUT), SQLite rows
are formatted in batches, and DuckDB turns the CSV file into Parquet (JSON columns stay JSON
text, typed JSON in Parquet). The files are kept in a cache directory and reused while the data
is the same: they are named by the project's slug (sizes and seed) and digests of the database,
the project and its label (which carries the day the data was made; bench data is regenerated
only when that day or the sizes change, and the same seed and day give the same data).

DuckDB is optional: `available()` says whether it can be imported, and the bench skips this side
without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.engine.export import csv_field
from segmint.projects import Project
from segmint.store.tables import events, leads

if TYPE_CHECKING:
    import duckdb

# What the suite's DuckDB statements read, with their DuckDB types (JSON is read as text first).
LEAD_COLUMNS: dict[str, str] = {
    "id": "BIGINT",
    "email": "VARCHAR",
    "status": "VARCHAR",
    "source": "VARCHAR",
    "company": "VARCHAR",
    "job_title": "VARCHAR",
    "tags": "JSON",
    "enrichment": "JSON",
    "created_at": "TIMESTAMPTZ",
    "last_contacted_at": "TIMESTAMPTZ",
}
EVENT_COLUMNS: dict[str, str] = {
    "lead_id": "BIGINT",
    "type": "VARCHAR",
    "occurred_at": "TIMESTAMPTZ",
    "metadata": "JSON",
}
BATCH_ROWS = 5000  # SQLite rows formatted per batch
NOT_INSTALLED = "DuckDB is not installed (pip install 'segmint[bench]'): its column is skipped"


def available() -> bool:
    """Whether DuckDB can be imported."""
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


def version() -> str:
    import duckdb

    return str(duckdb.__version__)


def default_directory() -> Path:
    """Where exports are cached: $XDG_CACHE_HOME/segmint/bench (~/.cache by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "segmint" / "bench"


@dataclass(frozen=True)
class ParquetFiles:
    leads: Path
    events: Path
    exported: bool  # False: the files of an earlier export were reused
    seconds: float  # the export's time (or the look for an earlier one)

    @property
    def size_bytes(self) -> int:
        return self.leads.stat().st_size + self.events.stat().st_size

    def as_dict(self) -> dict[str, Any]:
        return {
            "available": True,
            "version": version(),
            "parquet_exported": self.exported,
            "parquet_seconds": round(self.seconds, 2),
            "parquet_bytes": self.size_bytes,
            "parquet_leads": str(self.leads),
            "parquet_events": str(self.events),
        }


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:10]


def _names(engine: Engine, project: Project) -> tuple[str, str]:
    """(the prefix of every export of this project in this database, this export's name).

    The prefix is the slug (sizes and seed) and a digest of the database and the project; the
    name adds a digest of the project's label, which carries the day its data was made."""
    slug = re.sub(r"[^A-Za-z0-9-]", "_", project.slug)
    prefix = f"{slug}-{_digest(engine.url.render_as_string(hide_password=True), project.id)}"
    return prefix, f"{prefix}-{_digest(project.name)}"


def export(engine: Engine, project: Project, directory: Path) -> ParquetFiles:
    """The project's leads and events as Parquet files in `directory`, exported unless an earlier
    export of the same data is there. Earlier exports of the project's older data are removed."""
    started = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    prefix, name = _names(engine, project)
    lead_file = directory / f"{name}.leads.parquet"
    event_file = directory / f"{name}.events.parquet"
    if lead_file.exists() and event_file.exists():
        return ParquetFiles(lead_file, event_file, False, time.monotonic() - started)
    for stale in directory.glob(f"{prefix}-*.parquet"):
        stale.unlink(missing_ok=True)
    import duckdb

    with duckdb.connect() as duck:
        duck.execute("SET TimeZone = 'UTC'")  # how SQLite's zone-less timestamps are meant
        duck.execute("SET preserve_insertion_order = false")  # stream, whatever the size
        leads_query = sa.select(*(leads.c[c] for c in LEAD_COLUMNS)).where(
            leads.c.project_id == project.id
        )
        events_query = sa.select(*(events.c[c] for c in EVENT_COLUMNS)).where(
            events.c.project_id == project.id
        )
        _export_table(engine, duck, leads_query, LEAD_COLUMNS, lead_file)
        _export_table(engine, duck, events_query, EVENT_COLUMNS, event_file)
    return ParquetFiles(lead_file, event_file, True, time.monotonic() - started)


def _export_table(
    engine: Engine,
    duck: duckdb.DuckDBPyConnection,
    query: sa.Select[Any],
    columns: dict[str, str],
    target: Path,
) -> None:
    """Rows -> a CSV file -> a Parquet file (written aside, then renamed: never half a file)."""
    csv_path = target.with_name(target.name + ".csv.tmp")
    parquet_path = target.with_name(target.name + ".tmp")
    try:
        with csv_path.open("wb") as out:
            for block in _csv_blocks(engine, query):
                out.write(block)
        as_read = {name: "VARCHAR" if kind == "JSON" else kind for name, kind in columns.items()}
        selected = ", ".join(
            f"{name}::JSON AS {name}" if kind == "JSON" else name for name, kind in columns.items()
        )
        # Quoted empty strings stay '' (COPY writes NULL as nothing at all, '' as "").
        options = (
            f"header = true, auto_detect = false, columns = {_struct(as_read)}, delim = ',', "
            "quote = '\"', escape = '\"', allow_quoted_nulls = false"
        )
        # Only our own column names and paths are spliced in, the paths quoted by _literal().
        rows = f"SELECT {selected} FROM read_csv({_literal(csv_path)}, {options})"  # noqa: S608
        written = _literal(parquet_path)
        duck.execute(f"COPY ({rows}) TO {written} (FORMAT parquet, COMPRESSION zstd)")
        os.replace(parquet_path, target)
    finally:
        csv_path.unlink(missing_ok=True)
        parquet_path.unlink(missing_ok=True)


def _csv_blocks(engine: Engine, query: sa.Select[Any]) -> Iterator[bytes]:
    header = (",".join(c.name for c in query.selected_columns) + "\n").encode()
    yield header
    if engine.dialect.name == "postgresql":
        yield from _copy_blocks(engine, query)
    else:
        yield from _sqlite_blocks(engine, query)


def _copy_blocks(engine: Engine, query: sa.Select[Any]) -> Iterator[bytes]:
    compiled = query.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    # psycopg binds the parameters into COPY client-side with proper quoting.
    statement = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv, HEADER false)"
    with engine.connect() as conn:
        # Timestamps as ISO text with their offset, whatever the server's defaults.
        conn.exec_driver_sql("SET LOCAL DateStyle = 'ISO'")
        conn.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(statement, compiled.params) as copy:  # type: ignore[attr-defined]
            for block in copy:
                yield bytes(block)


def _sqlite_blocks(engine: Engine, query: sa.Select[Any]) -> Iterator[bytes]:
    # The stored text as it is: JSON documents, and UTC timestamps without a zone.
    raw = sa.select(*(sa.type_coerce(c, sa.String) for c in query.selected_columns)).where(
        query.whereclause if query.whereclause is not None else sa.true()
    )
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(raw)
        for rows in result.partitions():
            yield "".join(",".join(map(csv_field, row)) + "\n" for row in rows).encode()


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _struct(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"


class DuckDbSide:
    """An in-memory DuckDB whose views `leads` and `events` read the Parquet files."""

    def __init__(self, files: ParquetFiles) -> None:
        import duckdb

        self.files = files
        self.conn = duckdb.connect()
        self.conn.execute("SET TimeZone = 'UTC'")  # `$now - INTERVAL 30 DAY` is 720 hours
        for view, path in (("leads", files.leads), ("events", files.events)):
            source = f"read_parquet({_literal(path)})"  # our own path, quoted
            self.conn.execute(f"CREATE VIEW {view} AS SELECT * FROM {source}")  # noqa: S608

    def count(self, statement: str, now: datetime) -> int:
        """A statement's count, with `$now` bound when it names it."""
        params = {"now": now} if "$now" in statement else None
        row = self.conn.execute(statement, params).fetchone()
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> DuckDbSide:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
