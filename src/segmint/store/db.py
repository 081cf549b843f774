"""Connections: URL normalisation, engine set-up and per-dialect connection tuning."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import unicodedata
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, Engine, make_url

DEFAULT_DATABASE_URL = "sqlite:///./segmint.db"


def database_url_from_env() -> str:
    return os.environ.get("SEGMINT_DATABASE_URL", DEFAULT_DATABASE_URL)


def normalise_url(url: str | URL) -> URL:
    """Accept plain `postgresql://` / `postgres://` URLs and pick the psycopg 3 driver."""
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    if text.startswith("postgres://"):
        text = "postgresql://" + text[len("postgres://") :]
    parsed = make_url(text)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def fold(value: object) -> str | None:
    """Case-fold text the way both databases must: Unicode-aware, trimmed.

    SQLite's lower() folds ASCII only, so SQLite connections get this function registered as
    `segmint_fold`, and filters compare folded text on both sides.
    """
    if value is None:
        return None
    return unicodedata.normalize("NFKC", str(value)).strip().casefold()


def _tune_sqlite(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    dbapi_conn.create_function("segmint_fold", 1, fold, deterministic=True)
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA busy_timeout = 30000")
    try:  # math functions are a compile-time option of SQLite: scoring's decay needs power()
        cursor.execute("SELECT power(2, 1)")
    except sqlite3.OperationalError:
        dbapi_conn.create_function("power", 2, math.pow, deterministic=True)
    cursor.close()


def create_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    """The one way the project opens a database."""
    parsed = normalise_url(url or database_url_from_env())
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, **kwargs)
        sa.event.listen(engine, "connect", _tune_sqlite)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(
            f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL"
        )
    kwargs.setdefault("pool_pre_ping", True)  # survive a PostgreSQL restart without a manual step
    return sa.create_engine(parsed, **kwargs)


# Rows a load must write before SQLite's statistics are refreshed after it.
STATISTICS_AFTER_ROWS = 10_000


def refresh_sqlite_statistics(engine: Engine, rows_written: int = STATISTICS_AFTER_ROWS) -> None:
    """ANALYZE a SQLite database after a large load. SQLite keeps no statistics until ANALYZE
    runs, and without them it takes any index starting with project_id for a selective one:
    in a one-project database it then reads every lead through an index, three times slower
    than a scan (finding 12 in docs/performance.md). PostgreSQL's autovacuum keeps its own."""
    if engine.dialect.name != "sqlite" or rows_written < STATISTICS_AFTER_ROWS:
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def is_postgres(bind: Engine | sa.Connection) -> bool:
    return bind.dialect.name == "postgresql"


def one_of(
    column: sa.ColumnElement[Any], ids: Collection[int], dialect_name: str
) -> sa.ColumnElement[bool]:
    """`column IN ids` as a single bound parameter however many ids there are: an expanded
    IN list of thousands of parameters costs more to render, parse and plan than to run.
    PostgreSQL takes an array (`= ANY`), SQLite a JSON array read by `json_each`."""
    values = sorted(set(ids))
    if dialect_name == "postgresql":
        # One text parameter cast to bigint[]: psycopg's dumping of a list of ints element by
        # element was a quarter of a worker's time. int() keeps anything but digits out.
        text = "{" + ",".join(str(int(value)) for value in values) + "}"
        return column == sa.any_(
            sa.cast(sa.literal(text, sa.Text), postgresql.ARRAY(sa.BigInteger))
        )
    each = sa.func.json_each(sa.literal(json.dumps(values))).table_valued("value")
    return column.in_(sa.select(each.c.value))
