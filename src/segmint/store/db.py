"""Connections: URL normalisation, engine set-up and per-dialect connection tuning."""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, Engine, make_url

from segmint.bucketing import bucket_of
from segmint.folding import fold

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


def local_date(stored: str | None, zone: str) -> str | None:
    """The calendar date (ISO) in `zone` of a timestamp as SQLite stores it (UTC, no offset):
    SQLite knows no time zones, and "distinct days" are the project's local days."""
    if stored is None:
        return None
    moment = datetime.fromisoformat(stored)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).date().isoformat()


def _tune_sqlite(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    dbapi_conn.create_function("segmint_fold", 1, fold, deterministic=True)
    dbapi_conn.create_function("segmint_local_date", 2, local_date, deterministic=True)
    # SQLite has no SHA-256: the random split's bucket is Python's, registered like the fold.
    dbapi_conn.create_function("segmint_bucket", 2, bucket_of, deterministic=True)
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


# The pool's defaults: FastAPI runs up to 40 requests at once in its threads, and a server's
# worker threads need a few connections beside them; PostgreSQL allows 100 by default.
DEFAULT_POOL_SIZE = 20
DEFAULT_MAX_OVERFLOW = 10
DEFAULT_POOL_TIMEOUT = 10.0  # seconds a request waits for a connection, then answers 503


def pool_options_from_env() -> dict[str, Any]:
    """`SEGMINT_DB_POOL_SIZE` (connections kept open), `SEGMINT_DB_MAX_OVERFLOW` (opened
    beyond them at busy times) and `SEGMINT_DB_POOL_TIMEOUT` (seconds to wait for one)."""
    return {
        "pool_size": int(env_number("SEGMINT_DB_POOL_SIZE", DEFAULT_POOL_SIZE, minimum=1)),
        "max_overflow": int(env_number("SEGMINT_DB_MAX_OVERFLOW", DEFAULT_MAX_OVERFLOW)),
        "pool_timeout": env_number("SEGMINT_DB_POOL_TIMEOUT", DEFAULT_POOL_TIMEOUT),
    }


def env_number(name: str, default: float, minimum: float = 0) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: expected a number") from None
    if value < minimum:
        raise ValueError(f"{name}={text!r}: must be at least {minimum:g}")
    return value


def _pooled(parsed: URL, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The configured pool, unless the caller chose another pool or SQLite keeps the database
    in memory (one connection per thread, no queue)."""
    if "poolclass" in kwargs or parsed.database in (None, "", ":memory:"):
        return kwargs
    return {**pool_options_from_env(), **kwargs}


def json_loads(data: str | bytes) -> Any:
    """Stored JSON read back: by orjson, several times faster than json.loads (a page of 50
    leads decodes 150 values: a fifth of an index page's time); by json.loads what orjson
    refuses but the databases keep (integers past 64 bits, NaN in SQLite's text)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def create_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    """The one way the project opens a database."""
    parsed = normalise_url(url or database_url_from_env())
    kwargs = _pooled(parsed, kwargs)
    kwargs.setdefault("json_deserializer", json_loads)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, **kwargs)
        sa.event.listen(engine, "connect", _tune_sqlite)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(
            f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL"
        )
    kwargs.setdefault("pool_pre_ping", True)  # survive a PostgreSQL restart without a manual step
    kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "options": _pg_options(parsed)}
    return sa.create_engine(parsed, **kwargs)


def _pg_options(parsed: URL) -> str:
    """Session settings sent with each connection: JIT off, ahead of any `options` in the URL
    (which can turn it back on). JIT compiles a plan when its estimated cost is high: once a
    bulk load had skewed the change feed's statistics, the feed read before every index answer
    (0.7 ms) took 4-20 ms compiling, and a SQL-path count spent 40 ms of its 825 compiling and
    ran in 629 without (docs/decisions.md)."""
    given = parsed.query.get("options")
    own = [given] if isinstance(given, str) else list(given or ())
    return " ".join(["-c jit=off", *own])


Bind = Engine | sa.Connection  # a writer's target: its own connections, or one it is lent


@contextmanager
def transaction(bind: Bind) -> Iterator[sa.Connection]:
    """A transaction on a new connection of an engine, or on a connection lent by the caller
    (a request's, so that the request holds one connection only). A lent connection must have
    no transaction open: its owner commits what it did first, on purpose."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
        return
    with bind.begin():
        yield bind


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


def refresh_statistics(engine: Engine, tables: Collection[str]) -> None:
    """ANALYZE the tables a bulk load filled (SQLite: the whole database). Autovacuum's own
    ANALYZE comes a while later, or never on a server where it is off; until then PostgreSQL
    plans as if the tables were empty, and a time sweep over an imported project ran for six
    minutes holding its segments' locks (issue 17)."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        return
    with engine.begin() as conn:
        for table in sorted(tables):
            # Quoted by the dialect; the names come from store.tables, never from input.
            conn.exec_driver_sql("ANALYZE " + engine.dialect.identifier_preparer.quote(table))


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
