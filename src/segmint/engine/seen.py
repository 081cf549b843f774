"""What the project's data holds, for the builder's pickers: the values of a field with how many
leads hold each (as the filters fold them, so a count is what `is` would match), and the JSON
paths found under enrichment, account metadata and an event type's metadata."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, Final

import sqlalchemy as sa

from segmint.filters import FieldSpec, FieldType, resolve_event_field, resolve_field
from segmint.filters.dialects import Dialect, dialect_for
from segmint.filters.fields import PATH_SEGMENT, Storage, Table
from segmint.folding import fold
from segmint.projects import Project
from segmint.store.tables import accounts, events, lead_event_counts, leads

MAX_VALUES: Final = 50  # a picker offers the commonest; typing narrows them
PATH_SAMPLE: Final = 2_000  # newest rows whose JSON keys are read to discover paths
MAX_PATHS: Final = 100
PICKED_TYPES: Final = (FieldType.TEXT, FieldType.SELECT, FieldType.TAGS, FieldType.JSON)
Grouped = sa.Select[Any, Any, int]  # (folded text, a spelling of it, count)


def field_values(
    conn: sa.Connection, project: Project, field: str, q: str | None, event: str | None = None
) -> list[dict[str, Any]]:
    """The commonest text values of `field` (inside `event`'s metadata when given) with their
    counts: leads for a lead or account field, events for event metadata. Values are grouped
    by their folded text, each shown as one of its spellings; `q` keeps those that contain it.
    Numbers, dates and booleans are typed, not picked: none are offered for them."""
    spec = resolve_event_field(field) if event is not None else resolve_field(field, project)
    if spec.type not in PICKED_TYPES or spec.storage not in (Storage.COLUMN, Storage.JSON):
        return []
    dialect = dialect_for(conn.dialect.name)
    counts: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for query in _value_queries(spec, project, event, dialect, q):
        for folded, value, count in conn.execute(query):
            counts[folded] += int(count)
            shown.setdefault(folded, value)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_VALUES]
    return [{"value": shown[folded], "count": count} for folded, count in ranked]


def _value_queries(
    spec: FieldSpec, project: Project, event: str | None, dialect: Dialect, q: str | None
) -> Iterator[Grouped]:
    """(folded, a spelling, count) grouped by folded text: one query for plain text, one for
    the string elements of lists (tags, JSON arrays), as the field may hold either."""
    source, counted, where = _rows(spec, project, event)
    column = _column_of(spec)
    if spec.type is FieldType.TAGS or spec.storage is Storage.JSON:
        each, element, is_string = dialect.json_elements(column, spec.path)
        with_elements = source.join(each, sa.true())
        yield _grouped(dialect, element, with_elements, counted, [*where, is_string], q)
    if spec.storage is Storage.JSON:
        yield _grouped(dialect, dialect.json_text(column, spec.path), source, counted, where, q)
    elif spec.type is not FieldType.TAGS:
        yield _grouped(dialect, column, source, counted, where, q)


def _grouped(
    dialect: Dialect,
    value: sa.ColumnElement[Any],
    source: sa.FromClause,
    counted: sa.ColumnElement[Any],
    where: list[sa.ColumnElement[bool]],
    q: str | None,
) -> Grouped:
    folded = dialect.fold(value)
    conditions = [*where, value.is_not(None), folded != ""]
    wanted = fold(q) if q else None
    if wanted:
        conditions.append(folded.contains(wanted, autoescape=True))
    return (
        sa.select(folded, sa.func.min(value), sa.func.count(sa.distinct(counted)))
        .select_from(source)
        .where(*conditions)
        .group_by(folded)
        .order_by(sa.func.count(sa.distinct(counted)).desc(), folded)
        .limit(MAX_VALUES)
    )


def _rows(
    spec: FieldSpec, project: Project, event: str | None
) -> tuple[sa.FromClause, sa.ColumnElement[Any], list[sa.ColumnElement[bool]]]:
    """What is counted, and over which rows: events of the type for event metadata, else the
    project's leads (joined to their account for an account field)."""
    if spec.table is Table.EVENTS:
        where = [events.c.project_id == project.id, events.c.type == event]
        return events, events.c.id, where
    where = [leads.c.project_id == project.id]
    if spec.table is Table.ACCOUNTS:
        same_account = sa.and_(
            accounts.c.project_id == leads.c.project_id, accounts.c.id == leads.c.account_id
        )
        joined = leads.join(accounts, same_account)
        return joined, leads.c.id, where
    return leads, leads.c.id, where


def _column_of(spec: FieldSpec) -> sa.ColumnElement[Any]:
    table = {Table.LEADS: leads, Table.ACCOUNTS: accounts, Table.EVENTS: events}[spec.table]
    return table.c[spec.column]


def event_types(conn: sa.Connection, project: Project, q: str | None) -> list[dict[str, Any]]:
    """Event types with how many leads did each, from the per-lead counters (not the events)."""
    query = (
        sa.select(lead_event_counts.c.type, sa.func.count())
        .where(lead_event_counts.c.project_id == project.id)
        .group_by(lead_event_counts.c.type)
        .order_by(sa.func.count().desc(), lead_event_counts.c.type)
        .limit(MAX_VALUES)
    )
    if q:
        query = query.where(lead_event_counts.c.type.contains(q.strip(), autoescape=True))
    return [{"value": kind, "count": int(count)} for kind, count in conn.execute(query)]


# -- paths ---------------------------------------------------------------------------------------


def json_paths(
    conn: sa.Connection, project: Project, root: str, event: str | None = None
) -> list[dict[str, Any]]:
    """Dotted paths found in the newest PATH_SAMPLE rows of `root` (`enrichment`,
    `account.metadata`, or `metadata` of `event`), commonest first, each with the share of
    those rows that hold a value there and the JSON kind it holds most often."""
    documents = list(_documents(conn, project, root, event))
    seen: Counter[str] = Counter()
    kinds: dict[str, Counter[str]] = {}
    for document in documents:
        for path, value in set(_leaves(document, ())):
            seen[path] += 1
            kinds.setdefault(path, Counter())[value] += 1
    prefix = "" if root == "metadata" else f"{root}."
    return [
        {
            "name": prefix + path,
            "share": round(count / len(documents), 3),
            "kind": kinds[path].most_common(1)[0][0],
        }
        for path, count in seen.most_common(MAX_PATHS)
    ]


def _documents(
    conn: sa.Connection, project: Project, root: str, event: str | None
) -> Iterator[Any]:
    if root == "enrichment":
        query = sa.select(leads.c.enrichment).where(leads.c.project_id == project.id)
        query = query.order_by(leads.c.id.desc())
    elif root == "account.metadata":
        query = sa.select(accounts.c.metadata).where(accounts.c.project_id == project.id)
        query = query.order_by(accounts.c.id.desc())
    else:
        query = sa.select(events.c.metadata).where(
            events.c.project_id == project.id, events.c.type == event
        )
        query = query.order_by(events.c.occurred_at.desc())
    yield from conn.execute(query.limit(PATH_SAMPLE)).scalars()


def _leaves(document: Any, path: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(dotted path, JSON kind) of each value a filter could name: objects are walked, keys a
    path cannot name skipped, empty values left out (they are null to the filters)."""
    if not isinstance(document, dict):
        return
    for key, value in document.items():
        if not PATH_SEGMENT.match(key):
            continue
        here = (*path, key)
        if isinstance(value, dict):
            yield from _leaves(value, here)
        elif value not in (None, "", []):
            yield ".".join(here), _kind(value)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "string"
