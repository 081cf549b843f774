"""Reading the database into the index's tables: a whole project (a build), what changed since
(a catch-up) and JSON paths the first time a filter names them.

Each function takes a connection from feed.snapshot(), so all it reads is one committed state.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from segmint.filters.dialects import dialect_for
from segmint.filters.evaluate import walk
from segmint.filters.parse import MANUAL_KINDS
from segmint.index.feed import Changes, Position
from segmint.index.tables import (
    NO_ROW,
    AccountTable,
    EventTable,
    LeadTable,
    Memberships,
    Path,
    PathValues,
)
from segmint.index.vectors import micros
from segmint.model import LEAD_COLUMNS, FieldKind
from segmint.store.db import json_loads, one_of
from segmint.store.tables import (
    Timestamp,
    accounts,
    events,
    index_changes,
    leads,
    list_members,
    manual_members,
    segment_members,
)

log = logging.getLogger("segmint.index")

BATCH: Final = 50_000
PG_EPOCH_MICROS: Final = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
Progress = Callable[[str, int], None]


class OverBudget(Exception):
    """The project's index would need more memory than its budget allows."""


def _no_progress(stage: str, done: int) -> None:
    pass


# -- a build ---------------------------------------------------------------------------------


def load_accounts(conn: sa.Connection, project_id: int, table: AccountTable) -> None:
    rows = conn.execute(sa.select(accounts).where(accounts.c.project_id == project_id))
    table.apply([dict(row._mapping) for row in rows])


def _lead_build_columns(conn: sa.Connection) -> dict[str, sa.ColumnElement[Any]]:
    """What a build reads of each lead, by the name its column has in the index. JSON columns
    stay behind (their paths load on first use); tags come as JSON text, parsed once per
    distinct list; on PostgreSQL instants come as microseconds, with no datetime per value."""
    postgres = conn.dialect.name == "postgresql"
    enriched = dialect_for(conn.dialect.name).json_non_empty_object(leads.c.enrichment)
    selected: dict[str, sa.ColumnElement[Any]] = {}
    for name, kind in LEAD_COLUMNS.items():
        column = leads.c[name]
        if kind is FieldKind.TAGS:
            selected[name] = sa.cast(column, sa.Text) if postgres else sa.func.json(column)
        elif kind is FieldKind.DATETIME and postgres:
            micros = sa.func.extract("epoch", column) * 1_000_000
            selected[name] = sa.cast(micros, sa.BigInteger)
        else:
            selected[name] = column
    first = sa.func.coalesce(leads.c.first_name, "")
    selected["name"] = first + " " + sa.func.coalesce(leads.c.last_name, "")
    selected["enrichment_status"] = sa.case((enriched, "enriched"), else_="not_enriched")
    return selected


def load_leads(
    conn: sa.Connection,
    project_id: int,
    table: LeadTable,
    check: Callable[[], None],
    progress: Progress = _no_progress,
) -> None:
    """Every lead of the project, a batch of columns at a time."""
    selected = _lead_build_columns(conn)
    query = (
        sa.select(*(expression.label(name) for name, expression in selected.items()))
        .where(leads.c.project_id == project_id)
        .order_by(leads.c.id)
    )
    names = list(selected)
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(query)
    try:
        for part in result.partitions():
            columns = dict(zip(names, zip(*part, strict=True), strict=True))
            table.append_columns(columns, decoded=("tags",))
            progress("leads", len(table))
            check()
    finally:
        result.close()  # a build stopped over budget leaves no server-side cursor open


Array = np.ndarray[Any, Any]
# Events as read: each one's id, lead id, type code and instant (microseconds since 1970)...
EventColumns = tuple[Array, Array, Array, Array]
# ...after the type names, in the order of their codes.
EventArrays = tuple[list[str], Array, Array, Array, Array]


def load_events(
    conn: sa.Connection,
    project_id: int,
    leads_table: LeadTable,
    table: EventTable,
    progress: Progress = _no_progress,
    read: Callable[[], EventArrays] | None = None,
) -> None:
    """Every event of the project: id, lead, type and time (metadata paths load on first use);
    read through `read` when given (`events_aside`), else through `conn`."""
    names, ids, lead_ids, codes, at = read() if read else read_events(conn, project_id, progress)
    for name in names:
        table.type_code(name, add=True)
    rows = leads_table.ids.rows_of(lead_ids)
    known = rows != NO_ROW  # a lead deleted meanwhile takes its events with it
    table.load_sorted(ids[known], rows[known], codes[known], at[known])
    progress("events", len(table))


def read_events(
    conn: sa.Connection,
    project_id: int,
    progress: Progress = _no_progress,
    stop: threading.Event | None = None,
) -> EventArrays:
    """The project's event types (in the order of their codes) and its events as arrays."""
    types = conn.execute(
        sa.select(events.c.type).where(events.c.project_id == project_id).distinct()
    ).scalars()
    names = sorted(types)
    if conn.dialect.name == "postgresql":
        ids, lead_ids, codes, at = _pg_event_arrays(conn, project_id, names, progress, stop)
    else:
        ids, lead_ids, codes, at = _sqlite_event_arrays(conn, project_id, names)
    return names, ids, lead_ids, codes, at


@contextmanager
def events_aside(
    engine: sa.Engine, conn: sa.Connection, project_id: int, progress: Progress
) -> Iterator[Callable[[], EventArrays] | None]:
    """On PostgreSQL, the events read on a second connection in `conn`'s snapshot (exported to
    it) while this thread reads the leads: most of the events' time is PostgreSQL's packing,
    which then runs on the other core. Yields how to wait for them, or None (SQLite: read them
    through `conn`). Should the second connection fail, they are read through `conn` after all."""
    if conn.dialect.name != "postgresql" or not _spare_connection(engine):
        yield None
        return
    exported = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="index-events") as pool:
        future = pool.submit(_read_events_in, engine, str(exported), project_id, progress, stop)

        def wait() -> EventArrays:
            try:
                return future.result()
            except (sa.exc.TimeoutError, sa.exc.DBAPIError) as exc:
                log.warning("events of project %s read on one connection: %s", project_id, exc)
                return read_events(conn, project_id, progress)

        try:
            yield wait
        finally:
            stop.set()  # a build that failed first leaves it after the slice it is reading


def _spare_connection(engine: sa.Engine) -> bool:
    """Whether the pool can hand out a second connection at once. A build never waits for
    one: it would hold its own meanwhile, and requests would wait behind both (a pool of one
    answered 503 while a build waited out the pool's timeout)."""
    pool = engine.pool
    if isinstance(pool, sa.pool.QueuePool):
        return pool.checkedin() > 0 or pool.checkedout() < pool.size()
    return True


def _read_events_in(
    engine: sa.Engine,
    exported: str,
    project_id: int,
    progress: Progress,
    stop: threading.Event,
) -> EventArrays:
    if not re.fullmatch(r"[0-9A-F-]+", exported):
        raise ValueError(f"unexpected snapshot id {exported!r}")
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            # the exported snapshot must be set before the transaction's first query
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{exported}'")
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            return read_events(conn, project_id, progress, stop)


# Events are read in slices of the table's physical blocks (a TID range scan): sequential
# reads, each slice's bytea well under PostgreSQL's 1 GB limit (400 MB of table a slice).
BLOCKS_A_SLICE: Final = 50_000
# One event as packed by the query below: the binary send forms of its id, its lead's id, its
# type's code and its instant (microseconds since 2000), big-endian.
_PACKED_EVENT: Final = np.dtype([("id", ">i8"), ("lead", ">i8"), ("type", ">i4"), ("at", ">i8")])
_PACKED_SLICE = sa.text(
    """
    SELECT count(*), string_agg(
        int8send(id) || int8send(lead_id)
        || int4send(array_position(CAST(:names AS text[]), type::text) - 1)
        || timestamptz_send(occurred_at), ''::bytea)
    FROM events
    WHERE project_id = :project
      AND ctid >= format('(%s,0)', :first)::tid AND ctid < format('(%s,0)', :after)::tid
    """
)


def _pg_event_arrays(
    conn: sa.Connection,
    project_id: int,
    names: list[str],
    progress: Progress,
    stop: threading.Event | None,
) -> EventColumns:
    """The events as arrays. PostgreSQL packs a slice of events into one bytea, 28 bytes an
    event, which numpy reads as it is: no Python object and no network message per event
    (COPY sends a message a row: 10M of them took longer than the rest of the build)."""
    blocks = conn.execute(
        sa.text("SELECT pg_relation_size('events') / current_setting('block_size')::int")
    ).scalar_one()
    parts: list[np.ndarray[Any, Any]] = []
    loaded = 0
    for first in range(0, int(blocks) + 1, BLOCKS_A_SLICE):
        if stop is not None and stop.is_set():
            break
        params = {
            "names": names,
            "project": project_id,
            "first": first,
            "after": first + BLOCKS_A_SLICE,
        }
        found, packed = conn.execute(_PACKED_SLICE, params).one()
        if found:
            parts.append(np.frombuffer(packed, _PACKED_EVENT))
            loaded += int(found)
            progress("events", loaded)
    rows = np.concatenate(parts) if parts else np.zeros(0, _PACKED_EVENT)
    return (
        rows["id"].astype(np.int64),
        rows["lead"].astype(np.int64),
        rows["type"].astype(np.int32),
        rows["at"].astype(np.int64) + PG_EPOCH_MICROS,
    )


def _sqlite_event_arrays(conn: sa.Connection, project_id: int, names: list[str]) -> EventColumns:
    type_codes = {name: code for code, name in enumerate(names)}
    query = sa.select(events.c.id, events.c.lead_id, events.c.type, events.c.occurred_at).where(
        events.c.project_id == project_id
    )
    ids, lead_ids, codes, at = [], [], [], []
    for row in conn.execute(query):
        ids.append(row.id)
        lead_ids.append(row.lead_id)
        codes.append(type_codes[row.type])
        at.append(micros(row.occurred_at))
    return (
        np.asarray(ids, np.int64),
        np.asarray(lead_ids, np.int64),
        np.asarray(codes, np.int32),
        np.asarray(at, np.int64),
    )


# -- JSON paths on first use -------------------------------------------------------------------


def _json_at(conn: sa.Connection, column: sa.ColumnElement[Any], path: Path) -> Any:
    """The JSON value at `path` as a column PostgreSQL hands back parsed (jsonb); on SQLite the
    pair (json type, extracted value) that `_from_sqlite` turns into the same Python value."""
    if conn.dialect.name == "postgresql":
        keys = sa.cast(sa.literal(list(path)), postgresql.ARRAY(sa.Text))
        return column.op("#>", return_type=postgresql.JSONB)(keys)
    where = "$" + "".join(f".{json.dumps(key)}" for key in path)
    return sa.func.json_type(column, where), sa.func.json_extract(column, where)


def _from_sqlite(kind: str | None, value: Any) -> Any:
    if kind is None or kind == "null":
        return None
    if kind in ("true", "false"):
        return kind == "true"
    if kind in ("array", "object"):
        return json_loads(value)
    return value


def _values_at(
    conn: sa.Connection, id_column: Any, column: Any, path: Path, where: Any
) -> PathValues:
    """The values at `path` of the rows `where` selects. On PostgreSQL one row per distinct
    value, its ids packed in one bytea (a Python object per id took seconds a path at a
    million leads); the table parses each distinct text once."""
    expression = _json_at(conn, column, path)
    if conn.dialect.name == "postgresql":
        text = sa.cast(expression, sa.Text)
        packed = sa.func.string_agg(sa.func.int8send(id_column), sa.literal(b"", sa.LargeBinary))
        query = sa.select(text, packed).where(where, expression.is_not(None)).group_by(text)
        groups = [(t, np.frombuffer(p, ">i8")) for t, p in conn.execute(query) if t != "null"]
        texts = [t for t, _ in groups]
        ids = np.concatenate([i for _, i in groups]) if groups else np.zeros(0, np.int64)
        sizes = [len(i) for _, i in groups]
        return texts, ids.astype(np.int64), np.repeat(np.arange(len(groups)), sizes)
    kind, value = expression
    rows = conn.execute(sa.select(id_column, kind, value).where(where)).all()
    present = [row for row in rows if row[1] not in (None, "null")]
    distinct: dict[str, int] = {}
    which = [
        distinct.setdefault(json.dumps(_from_sqlite(r[1], r[2])), len(distinct)) for r in present
    ]
    ids = np.asarray([row[0] for row in present], np.int64)
    return list(distinct), ids, np.asarray(which, np.int64)


def load_lead_path(
    conn: sa.Connection, project_id: int, table: LeadTable, json_column: str, path: Path
) -> None:
    column = leads.c[json_column]
    values = _values_at(conn, leads.c.id, column, path, leads.c.project_id == project_id)
    table.add_path(json_column, path, values)


def load_account_path(
    conn: sa.Connection, project_id: int, table: AccountTable, path: Path
) -> None:
    where = accounts.c.project_id == project_id
    table.add_path(path, _values_at(conn, accounts.c.id, accounts.c.metadata, path, where))


def load_event_path(
    conn: sa.Connection, project_id: int, table: EventTable, event_type: str, path: Path
) -> None:
    code = table.type_code(event_type, add=True)
    assert code is not None
    where = sa.and_(events.c.project_id == project_id, events.c.type == event_type)
    table.add_path(code, path, _values_at(conn, events.c.id, events.c.metadata, path, where))


def load_members(
    conn: sa.Connection, project_id: int, memberships: Memberships, key: tuple[str, int]
) -> None:
    kind, container = key
    if kind == "list":
        query = sa.select(list_members.c.lead_id).where(
            list_members.c.project_id == project_id, list_members.c.list_id == container
        )
    elif kind in MANUAL_KINDS:  # a segment's leads included or excluded by hand
        query = sa.select(manual_members.c.lead_id).where(
            manual_members.c.project_id == project_id,
            manual_members.c.segment_id == container,
            manual_members.c.kind == kind,
        )
    else:
        query = sa.select(segment_members.c.lead_id).where(
            segment_members.c.project_id == project_id, segment_members.c.segment_id == container
        )
    memberships.load(key, conn.execute(query).scalars())


def load_entered(
    conn: sa.Connection, project_id: int, memberships: Memberships, segment_id: int
) -> None:
    """An active segment's maintained members and when each entered (time in segment)."""
    c = segment_members.c
    query = sa.select(c.lead_id, _entered_micros(conn)).where(
        c.project_id == project_id, c.segment_id == segment_id
    )
    rows = conn.execute(query).all()
    memberships.load_entered(segment_id, (row[0] for row in rows), (row[1] for row in rows))


def _entered_micros(conn: sa.Connection) -> sa.ColumnElement[Any]:
    """segment_members.entered_at as the index stores instants, microseconds since 1970:
    computed by PostgreSQL (exact: extract gives a numeric), on SQLite read back as a
    datetime and converted (`_Micros`)."""
    if conn.dialect.name == "postgresql":
        epoch = sa.func.extract("epoch", segment_members.c.entered_at) * 1_000_000
        return sa.cast(epoch, sa.BigInteger)
    return sa.type_coerce(segment_members.c.entered_at, _Micros())


class _Micros(sa.types.TypeDecorator[int]):
    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> int | None:
        moment = Timestamp().process_result_value(value, dialect)
        return None if moment is None else micros(moment)


def wrote_members(
    caller: sa.Connection, project_id: int, segment_id: int, position: Position
) -> bool:
    """Whether `caller`'s own (uncommitted) transaction has changed the segment's maintained
    members: the index, caught up to committed state only, must not answer time in segment
    for it then (a sync pass writes a segment, then syncs one that reads it). The feed rows
    of that transaction are visible to it alone: on PostgreSQL they carry its xid; on SQLite,
    whose writer holds the only write lock, they are those past what the index has applied."""
    c = index_changes.c
    if caller.dialect.name == "postgresql":
        own = sa.cast(sa.cast(sa.func.pg_current_xact_id_if_assigned(), sa.Text), sa.BigInteger)
        mine = c.xid == own
    else:
        mine = c.id > position.last_id
    query = sa.select(c.id).where(
        c.project_id == project_id,
        mine,
        c.kind == "segment_member",
        c.container_id == segment_id,
    )
    return caller.execute(query.limit(1)).first() is not None


# -- a catch-up --------------------------------------------------------------------------------


def apply_changes(
    conn: sa.Connection,
    project_id: int,
    changes: Changes,
    tables: tuple[AccountTable, LeadTable, EventTable, Memberships],
) -> None:
    """Bring the tables to the state `conn` sees, for what `changes` name: accounts first (leads
    point at them), then leads, memberships, and events last. Everything before the events is
    read whole and may be applied twice; events are appended, so they come last: a failure
    anywhere before leaves none appended, and the same changes are read again next time."""
    account_table, lead_table, _, _ = tables
    _apply_rows(
        conn,
        accounts,
        project_id,
        changes.of("account"),
        account_table.apply,
        account_table.remove,
    )
    _apply_leads(conn, project_id, changes.of("lead"), lead_table)
    for kind, table, container in (
        ("list_member", list_members, "list_id"),
        ("segment_member", segment_members, "segment_id"),
    ):
        pairs = changes.pairs.get(kind, set())
        _apply_memberships(conn, project_id, kind, pairs, table, container, tables)
    _apply_entered(conn, project_id, changes.pairs.get("segment_member", set()), tables[3])
    _apply_manual(conn, project_id, changes.pairs.get("manual_member", set()), tables[3])
    _apply_events(conn, project_id, changes.of("event"), tables)


def _apply_rows(
    conn: sa.Connection,
    table: sa.Table,
    project_id: int,
    ids: set[int],
    apply: Callable[[list[dict[str, Any]]], None],
    remove: Callable[[Iterable[int]], None],
) -> None:
    if not ids:
        return
    query = sa.select(table).where(
        table.c.project_id == project_id, one_of(table.c.id, ids, conn.dialect.name)
    )
    found = [dict(row._mapping) for row in conn.execute(query)]
    apply(found)
    remove(ids - {row["id"] for row in found})


def _apply_leads(conn: sa.Connection, project_id: int, ids: set[int], table: LeadTable) -> None:
    """The leads as stored now, read as a build reads them (no JSON column, no datetime per
    value, the derived fields computed by the database), with the loaded paths' values."""
    if not ids:
        return
    selected = _lead_build_columns(conn)
    paths = list(table.paths)
    selected.update(_path_columns(conn, paths))
    columns = _lead_columns(conn, selected, project_id, ids)
    if columns is None:
        table.remove(ids)
        return
    table.apply_columns(columns, ("tags",), _path_texts(conn, paths, columns))
    table.remove(ids.difference(columns["id"]))


def _lead_columns(
    conn: sa.Connection,
    selected: dict[str, sa.ColumnElement[Any]],
    project_id: int,
    ids: set[int],
) -> dict[str, Sequence[Any]] | None:
    """The selected columns of the leads `ids` that exist, column by column, in id order (None:
    none do). Every selected value is text, a number or null (instants as microseconds), which
    the driver converts cheaply: rows beat a JSON array per column on PostgreSQL, whose thirty
    ordered aggregates each sorted the rows again (a third of a catch-up)."""
    where = sa.and_(leads.c.project_id == project_id, one_of(leads.c.id, ids, conn.dialect.name))
    query = sa.select(*(expression.label(name) for name, expression in selected.items()))
    rows = conn.execute(query.where(where).order_by(leads.c.id)).all()
    if not rows:
        return None
    return dict(zip(selected, zip(*rows, strict=True), strict=True))


def _path_columns(
    conn: sa.Connection, paths: list[tuple[str, Path]]
) -> dict[str, sa.ColumnElement[Any]]:
    """What a catch-up reads for the loaded paths: on PostgreSQL each path's value as JSON
    text, as `load_lead_path` reads it (so no lead's whole JSON is parsed, and a value is
    parsed once however many leads hold it); on SQLite the JSON columns themselves."""
    if conn.dialect.name == "postgresql":
        return {
            f"path {i}": sa.cast(_json_at(conn, leads.c[json_column], path), sa.Text)
            for i, (json_column, path) in enumerate(paths)
        }
    return {json_column: leads.c[json_column] for json_column in sorted({c for c, _ in paths})}


def _path_texts(
    conn: sa.Connection, paths: list[tuple[str, Path]], columns: dict[str, Any]
) -> dict[tuple[str, Path], Sequence[str | None]]:
    if conn.dialect.name == "postgresql":
        return {key: columns[f"path {i}"] for i, key in enumerate(paths)}
    # as load_lead_path reads them on SQLite: object keys only, the value as JSON
    return {
        (json_column, path): [_json_text(walk(value, path)) for value in columns[json_column]]
        for json_column, path in paths
    }


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _apply_events(
    conn: sa.Connection,
    project_id: int,
    ids: set[int],
    tables: tuple[AccountTable, LeadTable, EventTable, Memberships],
) -> None:
    if not ids:
        return
    _, lead_table, event_table, _ = tables
    query = sa.select(
        events.c.id, events.c.lead_id, events.c.type, events.c.occurred_at, events.c.metadata
    ).where(events.c.project_id == project_id, one_of(events.c.id, ids, conn.dialect.name))
    rows = [dict(row._mapping) for row in conn.execute(query.order_by(events.c.id))]
    lead_rows = lead_table.ids.rows_of([row["lead_id"] for row in rows])
    kept = [(row, int(at)) for row, at in zip(rows, lead_rows, strict=True) if at != NO_ROW]
    event_table.append([row for row, _ in kept], [at for _, at in kept])


def _apply_memberships(
    conn: sa.Connection,
    project_id: int,
    kind: str,
    changed: set[tuple[int, int]],
    table: sa.Table,
    container: str,
    tables: tuple[AccountTable, LeadTable, EventTable, Memberships],
) -> None:
    memberships = tables[3]
    prefix = "list" if kind == "list_member" else "segment"
    pairs = {pair for pair in changed if memberships.has((prefix, pair[0]))}
    if not pairs:
        return
    lead_ids = sorted({lead for _, lead in pairs})
    rows = conn.execute(
        sa.select(table.c[container], table.c.lead_id).where(
            table.c.project_id == project_id, table.c.lead_id.in_(lead_ids)
        )
    )
    present = {(row[0], row[1]) for row in rows}
    for container_id, lead_id in pairs:
        memberships.set_lead((prefix, container_id), lead_id, (container_id, lead_id) in present)


def _apply_entered(
    conn: sa.Connection, project_id: int, changed: set[tuple[int, int]], memberships: Memberships
) -> None:
    """Maintained memberships entered, left or re-entered, for the segments whose entered_at
    the index holds (time in segment): each (segment, lead) changed is read as it stands now,
    so a lead that left and came back in the same catch-up has its new entered_at."""
    pairs = {pair for pair in changed if memberships.has_entered(pair[0])}
    if not pairs:
        return
    c = segment_members.c
    rows = conn.execute(
        sa.select(c.segment_id, c.lead_id, _entered_micros(conn)).where(
            c.project_id == project_id,
            one_of(c.segment_id, sorted({segment for segment, _ in pairs}), conn.dialect.name),
            one_of(c.lead_id, sorted({lead for _, lead in pairs}), conn.dialect.name),
        )
    )
    now_entered = {(row[0], row[1]): row[2] for row in rows}
    for segment_id, lead_id in pairs:
        memberships.set_entered(segment_id, lead_id, now_entered.get((segment_id, lead_id)))


def _apply_manual(
    conn: sa.Connection, project_id: int, changed: set[tuple[int, int]], memberships: Memberships
) -> None:
    """A manual include or exclude written or removed: each (segment, lead) changed is read as
    it stands now, and sets the lead's flag under both kinds the index holds for that segment
    (an include turned into an exclude changes both)."""
    pairs = {pair for pair in changed if any(memberships.has((k, pair[0])) for k in MANUAL_KINDS)}
    if not pairs:
        return
    c = manual_members.c
    rows = conn.execute(
        sa.select(c.segment_id, c.lead_id, c.kind).where(
            c.project_id == project_id,
            one_of(c.lead_id, sorted({lead for _, lead in pairs}), conn.dialect.name),
        )
    )
    now_kind = {(row.segment_id, row.lead_id): row.kind for row in rows}
    for segment_id, lead_id in pairs:
        for kind in MANUAL_KINDS:
            member = now_kind.get((segment_id, lead_id)) == kind
            memberships.set_lead((kind, segment_id), lead_id, member)


def log_progress(project_id: int) -> Progress:
    last: dict[str, int] = {}

    def report(stage: str, done: int) -> None:
        step = 100_000 if stage == "leads" else 1_000_000
        if done // step != last.get(stage, -1):
            last[stage] = done // step
            log.info("index of project %s: %s %s loaded", project_id, f"{done:,}", stage)

    return report
