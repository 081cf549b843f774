"""`segmint export-project` / `import-project`: a project as one NDJSON file, and back.

The file is a header line (the project's settings) and then one line per row, table by table in
the order rows depend on each other: accounts before leads, leads before events, segments
before lists and campaigns, runs before recipients. Rows keep every column but their ids:
importing gives them new ids (the target database has its own sequences) and rewrites every
reference, in columns (`lead_id`, `segment_id`, ...) and inside stored JSON (`in_segment` and
`in_list` in filters, a campaign's targeting and trigger). Users are referred to by email and
matched in the target organization. Derived state is copied as it is (scores, levels,
maintained membership, history), so the imported project is the same project, not a
recomputation of it.

A file may have been edited by hand, so every row is checked against its table's columns before
anything is written (types, lengths, required columns, storable text), and a row the database
still refuses (a duplicate, a reference to nothing) is found by retrying its batch a row at a
time. Once every row is in, segments, rules and campaigns pass the checks they pass when saved
(their filters, references and cycles among them). Either way the error names the line, and
nothing is imported.

Left out: delivery queues and logs (webhook_queue, webhook_attempts, campaign_trigger_sends:
an imported triggered campaign sends on the entries that follow) and the outbox, which
describe work in flight rather than the project; event counters, which the events' own
triggers rebuild.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.campaigns.definitions import check_stored as check_campaign
from segmint.engine import filtering
from segmint.engine.fit import check_rule as check_fit_rule
from segmint.engine.scoring import check_rule as check_scoring_rule
from segmint.errors import Forbidden, InvalidInput
from segmint.projects import Project, create_project
from segmint.storable import check_storable
from segmint.store.bulk import insert_returning_ids, insert_rows
from segmint.store.db import refresh_statistics
from segmint.store.tables import (
    Timestamp,
    account_membership_history,
    account_segment_members,
    accounts,
    campaign_recipients,
    campaign_runs,
    campaigns,
    custom_fields,
    events,
    fit_rules,
    leads,
    list_members,
    lists,
    mail_settings,
    manual_members,
    membership_history,
    score_history,
    scoring_rules,
    scoring_settings,
    segment_members,
    segment_tags,
    segment_versions,
    segments,
    users,
    webhooks,
)

FORMAT = "segmint-project"
VERSION = 1
BATCH = 1000


# A current definition (a segment, a rule, a campaign) is checked as it is when saved, once
# every row is in: (connection, project, the row's new id, the row as inserted).
Check = Callable[[sa.Connection, Project, int, dict[str, Any]], object]


def _check_segment(conn: sa.Connection, project: Project, row_id: int, row: dict[str, Any]) -> None:
    audience = row.get("audience") or "leads"
    source = filtering.ImportedSegments(conn, project.id)
    tree = row["filter"]
    filtering.validate(conn, project, tree, row_id, reader=None, audience=audience, source=source)


def _check_scoring_rule(conn: sa.Connection, project: Project, _: int, row: dict[str, Any]) -> None:
    check_scoring_rule(project, row)


def _check_fit_rule(conn: sa.Connection, project: Project, _: int, row: dict[str, Any]) -> None:
    check_fit_rule(conn, project, row, filtering.ImportedSegments(conn, project.id))


def _check_campaign(conn: sa.Connection, project: Project, _: int, row: dict[str, Any]) -> None:
    check_campaign(conn, project, row)


@dataclass(frozen=True)
class Part:
    """One table of the file: which columns refer to other tables' ids, which JSON columns
    hold filters or targeting to rewrite, and how a row of it is checked when saved (past
    versions and frozen lists are history, kept as they were)."""

    table: sa.Table
    refs: dict[str, str] = field(default_factory=dict)  # column -> table whose ids it holds
    filters: tuple[str, ...] = ()  # JSON columns holding a filter tree
    id_lists: dict[str, str] = field(default_factory=dict)  # JSON column -> table of its ids
    check: Check | None = None


PARTS = (
    Part(custom_fields),
    Part(accounts),
    Part(leads, {"account_id": "accounts"}),
    Part(events, {"lead_id": "leads"}),
    Part(segments, filters=("filter",), check=_check_segment),
    Part(segment_tags, {"segment_id": "segments"}),
    Part(segment_versions, {"segment_id": "segments"}, filters=("filter",)),
    Part(lists, {"source_segment_id": "segments"}, filters=("filter",)),
    Part(list_members, {"list_id": "lists", "lead_id": "leads"}),
    Part(segment_members, {"segment_id": "segments", "lead_id": "leads"}),
    Part(manual_members, {"segment_id": "segments", "lead_id": "leads"}),
    Part(membership_history, {"segment_id": "segments", "lead_id": "leads"}),
    Part(account_segment_members, {"segment_id": "segments", "account_id": "accounts"}),
    Part(account_membership_history, {"segment_id": "segments", "account_id": "accounts"}),
    Part(scoring_settings),
    Part(scoring_rules, filters=("where",), check=_check_scoring_rule),
    Part(fit_rules, filters=("filter",), check=_check_fit_rule),
    Part(score_history, {"lead_id": "leads"}),
    Part(webhooks, {"segment_id": "segments"}),
    Part(mail_settings),
    Part(
        campaigns,
        filters=("filter",),
        id_lists={
            "include_segments": "segments",
            "exclude_segments": "segments",
            "include_lists": "lists",
            "exclude_lists": "lists",
        },
        check=_check_campaign,
    ),
    Part(campaign_runs, {"campaign_id": "campaigns"}),
    Part(
        campaign_recipients,
        {"campaign_id": "campaigns", "run_id": "campaign_runs", "lead_id": "leads"},
    ),
)


# -- export ---------------------------------------------------------------------------------------


def export_project(engine: Engine, project: Project, out: IO[str]) -> dict[str, int]:
    """Write the project to `out`; returns rows written per table."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "project": {
            "slug": project.slug,
            "name": project.name,
            "timezone": project.timezone,
            "statuses": list(project.statuses),
            "converted_status": project.converted_status,
        },
    }
    out.write(json.dumps(header) + "\n")
    written: dict[str, int] = {}
    with engine.connect() as conn:
        emails = _user_emails(conn)
        for part in PARTS:
            written[part.table.name] = 0
            for row in _rows(conn, part.table, project):
                line = {"table": part.table.name, "row": _exported(row, emails)}
                out.write(json.dumps(line, default=_json_value) + "\n")
                written[part.table.name] += 1
    return written


def _rows(conn: sa.Connection, table: sa.Table, project: Project) -> Iterator[dict[str, Any]]:
    order = [table.c.id] if "id" in table.c else list(table.primary_key.columns)
    query = sa.select(table).where(table.c.project_id == project.id).order_by(*order)
    for row in conn.execution_options(stream_results=True, yield_per=BATCH).execute(query):
        yield dict(row._mapping)


def _user_emails(conn: sa.Connection) -> dict[int, str]:
    return {r.id: r.email for r in conn.execute(sa.select(users.c.id, users.c.email))}


def _exported(row: dict[str, Any], emails: dict[int, str]) -> dict[str, Any]:
    row = {k: v for k, v in row.items() if k != "project_id"}
    if "created_by" in row:
        row["created_by"] = emails.get(row["created_by"]) if row["created_by"] else None
    return row


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__}")


# -- import ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Definition:
    """A row holding filters or checked when saved, kept until every id is known: a segment
    may refer to one created after it."""

    line: int
    part: Part
    row_id: int
    row: dict[str, Any]  # as inserted; its filters as exported until rewritten


@dataclass
class _Ids:
    """Old id -> new id, per table, as rows are inserted."""

    maps: dict[str, dict[int, int]] = field(default_factory=dict)
    definitions: list[_Definition] = field(default_factory=list)

    def of(self, table: str) -> dict[int, int]:
        return self.maps.setdefault(table, {})


def import_project(
    engine: Engine,
    organization_id: int,
    lines: Iterable[str],
    slug: str | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> tuple[Project, dict[str, int]]:
    """Create a project from an export (as `slug`, default the exported slug) in one
    transaction: a file that fails half-way leaves nothing behind. The loaded tables are
    ANALYZEd after it."""
    stream = iter(lines)
    header = _header(next(stream, ""))
    settings = header["project"]
    ids = _Ids()
    counts: dict[str, int] = {}
    parts = {part.table.name: part for part in PARTS}
    with engine.begin() as conn:
        project = create_project(
            conn,
            organization_id,
            slug or settings["slug"],
            name=settings["name"],
            timezone=settings["timezone"],
            statuses=tuple(settings["statuses"]),
            converted_status=settings["converted_status"],
        )
        users_by_email = {r.email: r.id for r in conn.execute(
            sa.select(users.c.id, users.c.email).where(users.c.organization_id == organization_id)
        )}  # fmt: skip
        batch: list[tuple[int, dict[str, Any]]] = []  # (line number, row)
        current: Part | None = None

        def flush() -> None:
            if current is None or not batch:
                return
            _flush(conn, project, current, batch, ids, users_by_email)
            name = current.table.name
            counts[name] = counts.get(name, 0) + len(batch)
            if on_progress:
                on_progress(name, counts[name])
            batch.clear()

        for number, text in enumerate(stream, start=2):
            if not text.strip():
                continue
            table_name, row = _line(text, number, parts)
            if parts[table_name] is not current or len(batch) >= BATCH:
                flush()
                current = parts[table_name]
            batch.append((number, _checked(current, row, number)))
        flush()
        _rewrite_filters(conn, project, ids)
        _check_definitions(conn, project, ids)
    refresh_statistics(engine, counts)  # the background work that follows plans from them
    return project, counts


def _header(text: str) -> dict[str, Any]:
    try:
        header = json.loads(text)
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InvalidInput("line 1: not a Segmint project export")
    if header.get("version") != VERSION:
        raise InvalidInput(f"line 1: export version {header.get('version')} is not {VERSION}")
    return header


def _line(text: str, number: int, parts: dict[str, Part]) -> tuple[str, dict[str, Any]]:
    try:
        line = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"line {number}: not JSON ({exc.msg})") from None
    table = line.get("table") if isinstance(line, dict) else None
    if table not in parts or not isinstance(line.get("row"), dict):
        raise InvalidInput(f'line {number}: expected {{"table", "row"}} of a known table')
    return table, line["row"]


def _checked(part: Part, row: dict[str, Any], number: int) -> dict[str, Any]:
    """The row's values for its table's columns, each of its column's type. A file edited by
    hand fails here, naming the line and the column, rather than as a database error for a
    batch of a thousand rows (or, on SQLite, not at all: it keeps a word in an integer column).
    Keys the table does not have are ignored; a column the row leaves out takes its default,
    so a file from before a column was added still imports."""
    values: dict[str, Any] = {}
    for name, column in part.table.c.items():
        if name == "project_id":
            continue
        where = f'line {number}: {part.table.name} "{name}"'
        if name in row:
            values[name] = _typed(column, row[name], where)
        elif name == "id" or not (
            column.nullable or column.default is not None or column.server_default is not None
        ):
            raise InvalidInput(f"{where} is missing")
    for name in part.id_lists:
        ids = values.get(name)
        if ids is not None and not (isinstance(ids, list) and all(map(_is_int, ids))):
            raise InvalidInput(f'line {number}: {part.table.name} "{name}" must be a list of ids')
    return values


def _typed(column: sa.Column[Any], value: Any, where: str) -> Any:
    if value is None:
        if not column.nullable:
            raise InvalidInput(f"{where} must not be null")
        return None
    kind = column.type
    if column.name == "created_by":  # a user's email, matched in the target organization
        if isinstance(value, str):
            return value
        raise InvalidInput(f"{where} must be an email")
    if isinstance(kind, Timestamp):
        return _instant(value, where)
    if isinstance(kind, sa.Boolean):
        if isinstance(value, bool):
            return value
        raise InvalidInput(f"{where} must be true or false")
    if isinstance(kind, sa.Integer):
        bits = 63 if isinstance(kind, sa.BigInteger) else 31
        if _is_int(value) and abs(value) < 2**bits:
            return value
        raise InvalidInput(f"{where} must be an integer of at most {bits + 1} bits")
    if isinstance(kind, sa.Float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise InvalidInput(f"{where} must be a number")
    if isinstance(kind, sa.String):
        if not isinstance(value, str):
            raise InvalidInput(f"{where} must be a string")
        if kind.length is not None and len(value) > kind.length:
            raise InvalidInput(f"{where} is longer than {kind.length} characters")
    try:  # text, or JSON of any shape
        check_storable(value)
    except InvalidInput as exc:
        raise InvalidInput(
            f"{where}{f' at {exc.path}' if exc.path else ''} {exc.message}"
        ) from None
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON's true is not 1


def _instant(value: Any, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidInput(f"{where} must be an ISO 8601 instant")
    # Naive: UTC, as the database reads it back (SQLite keeps no offset).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _flush(
    conn: sa.Connection,
    project: Project,
    part: Part,
    batch: list[tuple[int, dict[str, Any]]],
    ids: _Ids,
    users_by_email: dict[str, int],
) -> None:
    table = part.table
    numbers = [number for number, _ in batch]
    rows = [_imported(part, row, n, ids, users_by_email, project) for n, row in batch]
    old = [row.pop("id") for row in rows] if "id" in table.c else []
    try:
        with conn.begin_nested():
            new = _insert(conn, table, rows)
    except sa.exc.DBAPIError as exc:
        raise _refused(conn, table, numbers, rows, exc) from None
    if "id" not in table.c:
        return
    ids.of(table.name).update(zip(old, new, strict=True))
    if part.filters or part.check:
        for number, new_id, row in zip(numbers, new, rows, strict=True):
            ids.definitions.append(_Definition(number, part, new_id, row))


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert in runs of rows with the same columns; the new ids, in order, if the table has
    ids."""
    new: list[int] = []
    for _, same_columns in itertools.groupby(rows, key=tuple):
        run = list(same_columns)
        if "id" in table.c:
            new += insert_returning_ids(conn, table, run)
        else:
            insert_rows(conn, table, run)
    return new


def _refused(
    conn: sa.Connection,
    table: sa.Table,
    numbers: list[int],
    rows: list[dict[str, Any]],
    error: sa.exc.DBAPIError,
) -> InvalidInput:
    """The line of a batch the database refused (a duplicate, a reference to nothing), found
    by inserting its rows one at a time. The import fails either way, so the rows that went in
    are rolled back with it."""
    for number, row in zip(numbers, rows, strict=True):
        try:
            with conn.begin_nested():
                _insert(conn, table, [row])
        except sa.exc.DBAPIError as exc:
            error = exc
            return InvalidInput(f"line {number}: {table.name} row refused: {_reason(error)}")
    span = f"lines {numbers[0]}-{numbers[-1]}"
    return InvalidInput(f"{span}: {table.name} rows refused: {_reason(error)}")


def _reason(error: sa.exc.DBAPIError) -> str:
    """The database's own words, without SQLAlchemy's statement and parameters."""
    return " ".join(line.strip() for line in str(error.orig).splitlines() if line.strip())


def _rewrite_filters(conn: sa.Connection, project: Project, ids: _Ids) -> None:
    """Point every filter's `in_segment` and `in_list` at the imported rows. A reference to a
    row not in the file is refused in a current definition; in history (a past version, a
    frozen list's filter) it gets an id no row has rather than one the target may have given
    to another row."""
    for stored in ids.definitions:
        table = stored.part.table
        changes = {}
        for column in stored.part.filters:
            if stored.row.get(column) is None:
                continue
            dangling: list[tuple[str, int]] = []
            changes[column] = _rewrite(stored.row[column], ids, dangling)
            if dangling and stored.part.check is not None:
                raise _not_in_file(stored.line, table, column, *dangling[0])
        if changes:
            stored.row.update(changes)
            conn.execute(
                table.update()
                .where(table.c.project_id == project.id, table.c.id == stored.row_id)
                .values(changes)
            )


def _check_definitions(conn: sa.Connection, project: Project, ids: _Ids) -> None:
    """Every current definition through the checks it passes when saved (fields, filters,
    cycles of segments, targeting), so that a hand-edited file cannot store a segment that
    fails each time it is counted."""
    for stored in ids.definitions:
        if stored.part.check is None:
            continue
        try:
            stored.part.check(conn, project, stored.row_id, stored.row)
        except (InvalidInput, Forbidden) as exc:
            where = f"{stored.part.table.name} {exc.path}" if exc.path else stored.part.table.name
            raise InvalidInput(f"line {stored.line}: {where}: {exc.message}") from None


def _imported(
    part: Part,
    row: dict[str, Any],
    number: int,
    ids: _Ids,
    users_by_email: dict[str, int],
    project: Project,
) -> dict[str, Any]:
    values = {**row, "project_id": project.id}
    for name, target in part.refs.items():
        if values.get(name) is not None:
            values[name] = _new_id(part.table.c[name], ids.of(target), values[name])
    if "created_by" in values:
        values["created_by"] = users_by_email.get(values["created_by"] or "")
    for name, target in part.id_lists.items():
        if values.get(name) is not None:
            values[name] = [
                _in_file(ids, target, old, number, part.table, name) for old in values[name]
            ]
    if part.table is campaigns:
        trigger = values.get("trigger")
        if isinstance(trigger, dict) and isinstance(trigger.get("segment_id"), int):
            old = trigger["segment_id"]
            segment_id = _in_file(ids, "segments", old, number, part.table, "trigger")
            values["trigger"] = {**trigger, "segment_id": segment_id}
    return values


_KINDS = {"segments": "segment", "lists": "list"}


def _in_file(ids: _Ids, target: str, old: int, line: int, table: sa.Table, column: str) -> int:
    """The imported id of a row a current definition names: it must be in the file."""
    new = ids.of(target).get(old)
    if new is None:
        raise _not_in_file(line, table, column, _KINDS[target], old)
    return new


def _not_in_file(line: int, table: sa.Table, column: str, kind: str, old: int) -> InvalidInput:
    return InvalidInput(
        f'line {line}: {table.name} "{column}" refers to {kind} {old}, which is not in the file'
    )


def _new_id(column: sa.Column[Any], new_ids: dict[int, int], old: int) -> int | None:
    """The imported row's id for an exported one. A reference to a row not in the file (a
    recipient whose lead was deleted: the audit outlives the lead) must not keep its old id,
    which the target database may have given to another row: it is cleared, or where it cannot
    be, made negative, an id no row has. Where a foreign key holds, the database then refuses
    the row, and the import names its line."""
    if old in new_ids:
        return new_ids[old]
    return None if column.nullable and not column.foreign_keys else -abs(old)


def _rewrite(tree: Any, ids: _Ids, dangling: list[tuple[str, int]] | None = None) -> Any:
    """A filter with its segment and list references pointing at the imported ones; one to a
    row not in the file is made negative (an id no row has) and noted in `dangling`."""
    if isinstance(tree, list):
        return [_rewrite(item, ids, dangling) for item in tree]
    if not isinstance(tree, dict):
        return tree
    node = {key: _rewrite(value, ids, dangling) for key, value in tree.items()}
    for key, target in (("in_segment", "segments"), ("in_account_segment", "segments"),
                        ("in_list", "lists")):  # fmt: skip
        old = node.get(key)
        if isinstance(old, int) and not isinstance(old, bool):
            new = ids.of(target).get(old)
            if new is None and dangling is not None:
                dangling.append((_KINDS[target], old))
            node[key] = new if new is not None else -abs(old)
    return node
