"""What a filter builder offers: the project's fields grouped as users look for them, each with
the operators its type allows, and values seen in the data for fields without a fixed list."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from segmint.engine import fit, owners, scoring, seen
from segmint.filters import FieldSpec, FieldType, operators_for, project_fields
from segmint.filters.fields import ENRICHMENT_LABELS, account_fields
from segmint.projects import Project
from segmint.store.tables import events, leads, lists, segments

SUGGESTIONS = 50  # distinct values offered for a free-text field such as source
ACCOUNT_PREFIX = "account."
# A list is matched by its elements: for a field known to hold one, these come first (and the
# builder starts a new condition on it with `has any`, not `is not null`).
ELEMENT_OPERATORS = ("has_any", "has_all", "has_none")


SCORES = ("engagement_score", "max_score", "engagement_level", "profile_level")


def _group(spec: FieldSpec) -> str:
    """The picker's groups, as users look for a field: Lead, Enrichment, Custom, Account, Scores."""
    if spec.name.startswith(ACCOUNT_PREFIX):
        return "Account"
    if spec.name.startswith("custom."):
        return "Custom"
    if spec.name == "enrichment_status":
        return "Enrichment"
    if spec.name in SCORES:
        return "Scores"
    return "Lead"


def _operators(kind: FieldType, holds_list: bool = False) -> list[dict[str, str]]:
    ops = list(operators_for(kind))
    if holds_list:
        first = {key: at for at, key in enumerate(ELEMENT_OPERATORS)}
        ops.sort(key=lambda op: first.get(op.key, len(first)))  # stable: the rest keep order
    return [{"key": op.key, "label": op.label, "shape": op.shape.value} for op in ops]


def _field(
    name: str, label: str, kind: FieldType, options: tuple[str, ...], holds_list: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": kind.value,
        "options": list(options),
        "operators": _operators(kind, holds_list or kind is FieldType.TAGS),
    }


def _seen(conn: sa.Connection, project: Project, column: sa.Column[Any]) -> tuple[str, ...]:
    """The most common values of a column (GROUP BY over the project's leads)."""
    rows = conn.execute(
        sa.select(column)
        .where(leads.c.project_id == project.id, column.is_not(None), column != "")
        .group_by(column)
        .order_by(sa.func.count().desc(), column)
        .limit(SUGGESTIONS)
    )
    return tuple(str(value) for (value,) in rows)


def event_types(conn: sa.Connection, project: Project) -> list[str]:
    """The event types the project has seen, skipping through the (project_id, type, ...) index
    one type at a time rather than reading every event."""
    step = sa.select(sa.func.min(events.c.type)).where(events.c.project_id == project.id)
    found: list[str] = []
    current = conn.execute(step).scalar()
    while current is not None and len(found) < 200:
        found.append(current)
        current = conn.execute(step.where(events.c.type > current)).scalar()
    return found


def _account_fields(
    found: list[dict[str, Any]], common: dict[str, tuple[str, ...]]
) -> list[dict[str, Any]]:
    """The fields of an account segment's filter: the account's columns, then the metadata
    paths found in the data (named `metadata.x` there, not `account.metadata.x`)."""
    fixed = [
        _field(spec.name, spec.label, spec.type, common.get(spec.name, ()))
        for spec in account_fields()
    ]
    paths = [
        {**field, "name": field["name"][len(ACCOUNT_PREFIX) :]}
        for field in _found_fields(found, "account.metadata.", set())
    ]
    return fixed + paths


def _enrichment_fields(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The enrichment paths of the contract's data model, then those found in the data (any
    other path may still be typed in the text syntax)."""
    lists = {"enrichment.company.technologies"}  # the contract's one list of text
    known = [
        _field(name, label, FieldType.JSON, (), holds_list=name in lists)
        for name, label in ENRICHMENT_LABELS.items()
    ]
    return known + _found_fields(found, "enrichment.", set(ENRICHMENT_LABELS))


def _found_fields(
    found: list[dict[str, Any]], prefix: str, known: set[str]
) -> list[dict[str, Any]]:
    """Fields for JSON paths found in the data, labelled by their path ("Company founded"); a
    path that mostly holds lists offers has any / has all / has none first."""
    return [
        _field(
            path["name"],
            path["name"][len(prefix) :].replace(".", " ").replace("_", " ").capitalize(),
            FieldType.JSON,
            (),
            holds_list=path["kind"] == "array",
        )
        for path in found
        if path["name"] not in known
    ]


def vocabulary(conn: sa.Connection, project: Project) -> dict[str, Any]:
    """Everything the builder's menus need, in one answer."""
    # Offered as options: the source values seen, and the level names the bands give (a level
    # no lead holds yet is still one a segment may wait for).
    common = {
        "source": _seen(conn, project, leads.c.source),
        "engagement_level": tuple(name for name, _ in scoring.levels(conn, project)),
        "profile_level": tuple(name for name, _ in fit.levels(conn, project)),
        "owner": tuple(row.email for row in owners.assignees(conn, project)),
    }
    groups: dict[str, list[dict[str, Any]]] = {
        "Lead": [],
        "Enrichment": [],
        "Custom": [],
        "Account": [],
        "Scores": [],
    }
    for spec in project_fields(project):
        options = spec.options or common.get(spec.name, ())
        groups[_group(spec)].append(_field(spec.name, spec.label, spec.type, options))
    groups["Enrichment"] += _enrichment_fields(seen.json_paths(conn, project, "enrichment"))
    account_paths = seen.json_paths(conn, project, "account.metadata")
    groups["Account"] += _found_fields(account_paths, "account.metadata.", set())
    by_audience: dict[str, list[dict[str, Any]]] = {"leads": [], "accounts": []}
    for row in conn.execute(
        sa.select(segments.c.id, segments.c.name, segments.c.audience)
        .where(segments.c.project_id == project.id)
        .order_by(segments.c.name)
    ):
        by_audience.setdefault(row.audience, []).append({"id": row.id, "name": row.name})
    return {
        "groups": [{"name": name, "fields": fields} for name, fields in groups.items() if fields],
        "event_types": event_types(conn, project),
        "event_operators": _operators(FieldType.JSON),
        # `in_segment` names a segment of the filter's own audience, `in_account_segment` (and
        # an account filter's `in_segment`) an account segment.
        "segments": by_audience["leads"],
        "account_segments": by_audience["accounts"],
        "account_groups": [
            {"name": "Account", "fields": _account_fields(account_paths, common)},
        ],
        "lists": [
            {"id": row.id, "name": row.name}
            for row in conn.execute(
                sa.select(lists.c.id, lists.c.name)
                .where(lists.c.project_id == project.id)
                .order_by(lists.c.name)
            )
        ],
    }
