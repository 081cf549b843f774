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

Left out: delivery queues and logs (webhook_queue, webhook_attempts, campaign_trigger_sends:
an imported triggered campaign sends on the entries that follow) and the outbox, which
describe work in flight rather than the project; event counters, which the events' own
triggers rebuild.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.errors import InvalidInput
from segmint.projects import Project, create_project
from segmint.store.bulk import insert_rows
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


@dataclass(frozen=True)
class Part:
    """One table of the file: which columns refer to other tables' ids, and which JSON
    columns hold filters or targeting to rewrite."""

    table: sa.Table
    refs: dict[str, str] = field(default_factory=dict)  # column -> table whose ids it holds
    filters: tuple[str, ...] = ()  # JSON columns holding a filter tree


PARTS = (
    Part(custom_fields),
    Part(accounts),
    Part(leads, {"account_id": "accounts"}),
    Part(events, {"lead_id": "leads"}),
    Part(segments, filters=("filter",)),
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
    Part(scoring_rules, filters=("where",)),
    Part(fit_rules, filters=("filter",)),
    Part(score_history, {"lead_id": "leads"}),
    Part(webhooks, {"segment_id": "segments"}),
    Part(mail_settings),
    Part(campaigns, filters=("filter",)),
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


@dataclass
class _Ids:
    """Old id -> new id, per table, as rows are inserted."""

    maps: dict[str, dict[int, int]] = field(default_factory=dict)
    # (table, new id, column, filter as exported): rewritten once every id is known, since a
    # segment may refer to one created after it.
    filters: list[tuple[sa.Table, int, str, Any]] = field(default_factory=list)

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
        batch: list[dict[str, Any]] = []
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
            batch.append(row)
        flush()
        _rewrite_filters(conn, project, ids)
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


def _flush(
    conn: sa.Connection,
    project: Project,
    part: Part,
    batch: list[dict[str, Any]],
    ids: _Ids,
    users_by_email: dict[str, int],
) -> None:
    table = part.table
    rows = [_imported(part, row, ids, users_by_email, project) for row in batch]
    if "id" not in table.c:
        insert_rows(conn, table, rows)
        return
    old = [row.pop("id") for row in rows]
    statement = table.insert().returning(table.c.id, sort_by_parameter_order=True)
    new = conn.execute(statement, rows).scalars().all()
    ids.of(table.name).update(zip(old, new, strict=True))
    for new_id, row in zip(new, rows, strict=True):
        ids.filters += [(table, new_id, column, row[column]) for column in part.filters]


def _rewrite_filters(conn: sa.Connection, project: Project, ids: _Ids) -> None:
    for table, new_id, column, tree in ids.filters:
        if tree is None:
            continue
        conn.execute(
            table.update()
            .where(table.c.project_id == project.id, table.c.id == new_id)
            .values({column: _rewrite(tree, ids)})
        )


def _imported(
    part: Part, row: dict[str, Any], ids: _Ids, users_by_email: dict[str, int], project: Project
) -> dict[str, Any]:
    values = {k: v for k, v in row.items() if k in part.table.c}
    values["project_id"] = project.id
    for name, column in part.table.c.items():
        if isinstance(column.type, Timestamp) and isinstance(values.get(name), str):
            values[name] = datetime.fromisoformat(values[name])
    for name, target in part.refs.items():
        if values.get(name) is not None:
            # A recipient whose lead was deleted keeps its old id: the audit outlives the lead.
            values[name] = ids.of(target).get(values[name], values[name])
    if "created_by" in values:
        values["created_by"] = users_by_email.get(values["created_by"] or "")
    if part.table is campaigns:
        for name, target in (
            ("include_segments", "segments"),
            ("exclude_segments", "segments"),
            ("include_lists", "lists"),
            ("exclude_lists", "lists"),
        ):
            values[name] = [ids.of(target).get(i, i) for i in values[name]]
        trigger = values.get("trigger")
        if isinstance(trigger, dict) and isinstance(trigger.get("segment_id"), int):
            segment_id = ids.of("segments").get(trigger["segment_id"], trigger["segment_id"])
            values["trigger"] = {**trigger, "segment_id": segment_id}
    return values


def _rewrite(tree: Any, ids: _Ids) -> Any:
    """A filter with its segment and list references pointing at the imported ones."""
    if isinstance(tree, list):
        return [_rewrite(item, ids) for item in tree]
    if not isinstance(tree, dict):
        return tree
    node = {key: _rewrite(value, ids) for key, value in tree.items()}
    for key in ("in_segment", "in_account_segment"):
        if isinstance(node.get(key), int):
            node[key] = ids.of("segments").get(node[key], node[key])
    if isinstance(node.get("in_list"), int):
        node["in_list"] = ids.of("lists").get(node["in_list"], node["in_list"])
    return node
