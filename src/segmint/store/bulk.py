"""Bulk inserts that return the new ids: COPY on PostgreSQL, executemany elsewhere.

A multi-row INSERT ... RETURNING of a thousand rows is a statement of many thousand parameters,
which psycopg re-parses for every batch (it caches short statements only): most of an import's
time. COPY streams the rows instead, with ids taken from the table's sequence beforehand, so the
caller still learns them (the outbox needs them) without a RETURNING.

Rows without ids go by COPY too: an executemany runs one INSERT a row, and each fires the
tables' statement-level triggers (the index's change feed) again. 20,000 list members took
twice as long that way, and a test's 100,000 leads over a minute against ten seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.types.json import Jsonb


def insert_returning_ids(
    conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Insert rows (dicts with the same keys) and return their new ids, in order."""
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        return list(conn.execute(table.insert().returning(table.c.id), list(rows)).scalars())
    return _copy_with_ids(conn, table, rows)


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys, ids left to the database)."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), list(rows))
        return
    _copy(conn, table, list(rows[0]), ([row[n] for n in rows[0]] for row in rows))


def _copy_with_ids(
    conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> list[int]:
    ids = list(
        conn.execute(
            sa.select(
                sa.func.nextval(sa.func.pg_get_serial_sequence(table.name, "id"))
            ).select_from(sa.func.generate_series(1, len(rows)))
        ).scalars()
    )
    names = [name for name in rows[0] if name != "id"]
    values = ([new_id, *(row[n] for n in names)] for new_id, row in zip(ids, rows, strict=True))
    _copy(conn, table, ["id", *names], values)
    return ids


def _copy(
    conn: sa.Connection, table: sa.Table, names: list[str], values: Iterable[list[Any]]
) -> None:
    json_at = [i for i, name in enumerate(names) if isinstance(table.c[name].type, sa.JSON)]
    columns = ", ".join(f'"{name}"' for name in names)  # names from the table, never from input
    statement = f'COPY "{table.name}" ({columns}) FROM STDIN'
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(statement) as copy:
            for row in values:
                for i in json_at:  # Jsonb(None) is JSON null, as SQLAlchemy stores None
                    row[i] = Jsonb(row[i])
                copy.write_row(row)
    except psycopg.Error as exc:  # as SQLAlchemy's own errors, so batch retries see them
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
