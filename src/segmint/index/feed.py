"""Reading the change feed (`index_changes`, filled by triggers: migration 0015) exactly once.

Every read happens in one snapshot (`snapshot`): the changes and the rows they name are read
together, so what the index applies is what was committed at one moment, and nothing else.

Where to resume, soundly:
- PostgreSQL: change ids are taken before commit, so a transaction with a smaller id can commit
  after one with a larger id; "everything after the highest id seen" would skip it for ever.
  Each change records its transaction (`xid`). A snapshot tells which transactions it cannot
  see: those from `xmax` on, and those in progress (`xip`). Those are exactly the ones whose
  changes the index has not applied, so the next read asks for them and nothing else.
- SQLite: one writer at a time, each commits before the next begins: ids are in commit order
  and the highest id applied is a sound mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa

from segmint.store.tables import index_changes

# Changes are kept this long; an index that has not caught up for half of it is rebuilt instead
# (registry.py), so pruning never takes a change an index still needs.
RETENTION: Final = timedelta(days=1)


@dataclass(frozen=True)
class Position:
    """Where the index stands in the feed: every change before it is applied."""

    last_id: int = 0  # SQLite: the highest change id applied
    xmax: int = 0  # PostgreSQL: the first transaction id the snapshot could not see...
    in_progress: tuple[int, ...] = ()  # ...and those below it still running then
    own: int | None = None  # the reading transaction itself, when it had written (tests)


@dataclass
class Changes:
    """What changed, by kind (lead, event, account, list_member, segment_member): the objects,
    and for memberships the (container, lead) pairs. Only what changed matters, not in what
    order: every object is read as it stands now."""

    objects: dict[str, set[int]] = field(default_factory=dict)
    pairs: dict[str, set[tuple[int, int]]] = field(default_factory=dict)
    count: int = 0  # changes read, repeats included

    def add(self, kind: str, object_ids: list[int], container_ids: list[int | None]) -> None:
        self.objects.setdefault(kind, set()).update(object_ids)
        self.pairs.setdefault(kind, set()).update(
            (container, lead)
            for container, lead in zip(container_ids, object_ids, strict=True)
            if container is not None
        )
        self.count += len(object_ids)

    def of(self, kind: str) -> set[int]:
        return self.objects.get(kind, set())


@contextmanager
def snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A read-only connection whose every statement sees the same committed state."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.execute(sa.text("SET TRANSACTION READ ONLY"))
                yield conn
        return
    with engine.connect() as conn:
        # pysqlite opens a transaction only before a write; in WAL mode an explicit one gives
        # the reads a single snapshot without blocking writers.
        conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            conn.rollback()


def position_now(conn: sa.Connection) -> Position:
    """The position of the snapshot `conn` reads in: where a build made in it stands."""
    if conn.dialect.name == "postgresql":
        snapshot_text, own = conn.execute(
            sa.text("SELECT pg_current_snapshot()::text, pg_current_xact_id_if_assigned()::text")
        ).one()
        return _pg_position(snapshot_text, own)
    last = conn.execute(sa.select(sa.func.max(index_changes.c.id))).scalar()
    return Position(last_id=int(last or 0))


def _pg_position(snapshot_text: str, own: str | None) -> Position:
    _xmin, xmax, xip = str(snapshot_text).split(":")
    # A transaction sees its own writes: when it reads for the index itself (tests build one
    # inside the transaction that wrote the rows), its changes are applied, not "in progress".
    running = tuple(int(x) for x in xip.split(",") if x and x != own)
    return Position(xmax=int(xmax), in_progress=running, own=int(own) if own else None)


def has_written(conn: sa.Connection) -> bool:
    """Whether `conn`'s transaction holds writes of its own (uncommitted, so not for the index)."""
    if conn.dialect.name == "postgresql":
        own = conn.execute(sa.text("SELECT pg_current_xact_id_if_assigned()")).scalar()
        return own is not None
    raw = conn.connection.dbapi_connection
    return bool(getattr(raw, "in_transaction", False))


# The PostgreSQL read, as text: it runs before every answer, and building it as an expression
# each time cost more Python than the database took to answer it. `running` holds the
# transactions in progress at the last read; `own`, when set, the reader's own transaction.
_PG_CHANGES: Final = sa.text(
    """
    SELECT moment.snap, moment.own, c.kind, json_agg(c.object_id), json_agg(c.container_id)
    FROM (SELECT pg_current_snapshot()::text AS snap,
                 pg_current_xact_id_if_assigned()::text AS own) AS moment
    LEFT JOIN index_changes AS c
      ON c.project_id = :project_id
     AND (c.xid >= :xmax OR c.xid = ANY(CAST(:running AS bigint[])))
     AND (CAST(:own AS bigint) IS NULL OR c.xid <> CAST(:own AS bigint))
    GROUP BY moment.snap, moment.own, c.kind
    """
)


def read_changes(conn: sa.Connection, project_id: int, since: Position) -> tuple[Changes, Position]:
    """The project's changes committed after `since` and visible to `conn`, and the position
    after them (its `own`: the transaction of `conn`, if it has written). One statement reads
    both, so they come from one snapshot even when `conn` is a request's (READ COMMITTED)
    transaction; rows read after it may be newer, which is harmless: a row is read whole, and
    read again when its own change comes. On PostgreSQL the changes come as a JSON array per
    kind: a catch-up after 2,000 writes read 2,000 rows one at a time."""
    changes = Changes()
    if conn.dialect.name == "postgresql":
        params = {
            "project_id": project_id,
            "xmax": since.xmax,
            "running": list(since.in_progress),
            "own": since.own,
        }
        rows: list[Any] = list(conn.execute(_PG_CHANGES, params).all())
        for _snap, _own, kind, object_ids, container_ids in rows:
            if kind is not None:  # no change at all: one row of the snapshot alone
                changes.add(kind, object_ids, container_ids)
        return changes, _pg_position(rows[0].snap, rows[0].own)
    c = index_changes.c
    query = sa.select(c.id, c.kind, c.object_id, c.container_id).where(
        c.project_id == project_id, c.id > since.last_id
    )
    last = since.last_id
    for row in conn.execute(query):
        changes.add(row.kind, [row.object_id], [row.container_id])
        last = max(last, row.id)
    return changes, Position(last_id=last)


def prune(conn: sa.Connection, project_id: int, now: datetime) -> int:
    """Forget the project's changes older than RETENTION (the worker's sweep); how many."""
    result = conn.execute(
        index_changes.delete().where(
            index_changes.c.project_id == project_id,
            index_changes.c.recorded_at < now - RETENTION,
        )
    )
    return int(result.rowcount or 0)
