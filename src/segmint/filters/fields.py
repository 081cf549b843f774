"""The field registry: every path a filter may name, its type and where its value lives.

Field names reach SQL only through the specs built here (a column object or a JSON path that has
passed PATH_SEGMENT), never as text from the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from segmint.errors import InvalidInput
from segmint.model import LEAD_COLUMNS, PHONE_TYPES, FieldKind
from segmint.projects import Project


class FieldType(StrEnum):
    """How a filter compares a field: decides which operators apply and which values fit."""

    TEXT = "text"
    SELECT = "select"  # text from a vocabulary: equality only
    NUMBER = "number"
    DATETIME = "datetime"
    DATE = "date"  # an ISO date string (custom date fields)
    BOOLEAN = "boolean"
    TAGS = "tags"  # a list of text
    JSON = "json"  # untyped: string, number, boolean or list, decided per value


class Storage(StrEnum):
    COLUMN = "column"  # a plain column of `table`
    JSON = "json"  # a dotted path inside the JSON column `column` of `table`
    NAME = "name"  # first_name + " " + last_name
    ENRICHMENT_STATUS = "enrichment_status"  # derived from `enrichment`


class Table(StrEnum):
    LEADS = "leads"
    ACCOUNTS = "accounts"
    EVENTS = "events"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    type: FieldType
    storage: Storage
    table: Table = Table.LEADS
    column: str = ""
    path: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


# A JSON key a path may name. Starting with a letter or '_' keeps PostgreSQL's `#>` from reading
# a segment as an array index, so both databases (and Python) only ever walk objects.
PATH_SEGMENT: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,99}$")

_KIND_TO_TYPE: Final = {
    FieldKind.TEXT: FieldType.TEXT,
    FieldKind.EMAIL: FieldType.TEXT,
    FieldKind.SELECT: FieldType.SELECT,
    FieldKind.NUMBER: FieldType.NUMBER,
    FieldKind.DATETIME: FieldType.DATETIME,
    FieldKind.DATE: FieldType.DATE,
    FieldKind.BOOLEAN: FieldType.BOOLEAN,
    FieldKind.TAGS: FieldType.TAGS,
    FieldKind.JSON: FieldType.JSON,
}

_CUSTOM_TYPES: Final = {
    "text": FieldType.TEXT,
    "number": FieldType.NUMBER,
    "date": FieldType.DATE,
    "boolean": FieldType.BOOLEAN,
    "select": FieldType.SELECT,
}

ENRICHMENT_STATUSES: Final = ("enriched", "not_enriched")
ACCOUNT_COLUMNS: Final = ("name", "domain", "engagement_level", "profile_level")


def _label(name: str) -> str:
    return name.replace("_", " ").replace(".", " ").capitalize()


def _column_spec(name: str, kind: FieldKind) -> FieldSpec:
    options = PHONE_TYPES if name == "phone_type" else ()
    return FieldSpec(
        name, _label(name), _KIND_TO_TYPE[kind], Storage.COLUMN, column=name, options=options
    )


def standard_fields(project: Project | None = None) -> tuple[FieldSpec, ...]:
    """The fixed fields (lead columns, name, enrichment status, account columns) for a UI."""
    specs = [_column_spec(name, kind) for name, kind in LEAD_COLUMNS.items()]
    if project is not None:
        specs = [
            FieldSpec(s.name, s.label, s.type, s.storage, column=s.column, options=project.statuses)
            if s.name == "status"
            else s
            for s in specs
        ]
    specs.append(FieldSpec("name", "Name", FieldType.TEXT, Storage.NAME))
    specs.append(
        FieldSpec(
            "enrichment_status",
            "Enrichment status",
            FieldType.SELECT,
            Storage.ENRICHMENT_STATUS,
            options=ENRICHMENT_STATUSES,
        )
    )
    for column in ACCOUNT_COLUMNS:
        specs.append(
            FieldSpec(
                f"account.{column}",
                f"Account {_label(column).lower()}",
                FieldType.TEXT,
                Storage.COLUMN,
                Table.ACCOUNTS,
                column=column,
            )
        )
    return tuple(specs)


def project_fields(project: Project) -> tuple[FieldSpec, ...]:
    """Every field with a fixed name in this project: standard ones plus `custom.<key>`."""
    return standard_fields(project) + tuple(
        _custom_spec(key, project) for key in project.custom_fields
    )


_STANDARD: Final = {spec.name: spec for spec in standard_fields()}


def split_path(path: str) -> tuple[str, ...]:
    """Dotted path -> JSON keys; raises InvalidInput (without a JSON path) when malformed."""
    parts = tuple(path.split("."))
    for part in parts:
        if not PATH_SEGMENT.fullmatch(part):  # `$` alone lets a trailing newline through
            raise InvalidInput(
                f"bad path segment {part!r}: use letters, digits, '_' and '-', "
                "starting with a letter or '_'"
            )
    return parts


def _custom_spec(key: str, project: Project) -> FieldSpec:
    definition = project.custom_fields.get(key)
    if definition is None:
        raise InvalidInput(f"unknown custom field {key!r}")
    return FieldSpec(
        f"custom.{key}",
        definition.label,
        _CUSTOM_TYPES[definition.type],
        Storage.JSON,
        column="custom",
        path=(key,),
        options=definition.options,
    )


# The enrichment paths of the contract's data model, with the names a person reads: the
# builder offers them first, and every page says "Company size", never "Enrichment company size".
ENRICHMENT_LABELS: Final = {
    "enrichment.company.size": "Company size",
    "enrichment.company.industry": "Company industry",
    "enrichment.company.revenue": "Company revenue",
    "enrichment.company.technologies": "Company technologies",
    "enrichment.person.seniority_level": "Seniority level",
    "enrichment.person.location.country": "Person country",
    "enrichment.person.location.state": "Person state",
    "enrichment.person.location.city": "Person city",
}


def _json_spec(name: str, table: Table, column: str, path: str) -> FieldSpec:
    label = ENRICHMENT_LABELS.get(name) or _label(name)
    return FieldSpec(name, label, FieldType.JSON, Storage.JSON, table, column, split_path(path))


def resolve_field(name: str, project: Project) -> FieldSpec:
    """The spec of a lead-level field path; raises InvalidInput (without a JSON path)."""
    if name == "status":
        return next(s for s in standard_fields(project) if s.name == "status")
    if name in _STANDARD:
        return _STANDARD[name]
    head, _, rest = name.partition(".")
    if head == "custom" and rest:
        return _custom_spec(rest, project)
    if head == "enrichment" and rest:
        return _json_spec(name, Table.LEADS, "enrichment", rest)
    if head == "account" and rest.startswith("metadata.") and len(rest) > len("metadata."):
        return _json_spec(name, Table.ACCOUNTS, "metadata", rest[len("metadata.") :])
    raise InvalidInput(f"unknown field {name!r}")


ACCOUNT_TEXT_FIELDS: Final = ACCOUNT_COLUMNS


def account_fields() -> tuple[FieldSpec, ...]:
    """The fixed fields of an account segment's filter (plus `metadata.<path>`)."""
    specs = [
        FieldSpec(column, _label(column), FieldType.TEXT, Storage.COLUMN, Table.ACCOUNTS, column)
        for column in ACCOUNT_TEXT_FIELDS
    ]
    specs.append(
        FieldSpec(
            "created_at",
            "Created at",
            FieldType.DATETIME,
            Storage.COLUMN,
            Table.ACCOUNTS,
            "created_at",
        )
    )
    return tuple(specs)


_ACCOUNT_FIELDS: Final = {spec.name: spec for spec in account_fields()}


def resolve_account_field(name: str) -> FieldSpec:
    """The spec of a field of an account segment's filter; raises InvalidInput (without a JSON
    path). Lead fields are refused with the way to reach them."""
    if name in _ACCOUNT_FIELDS:
        return _ACCOUNT_FIELDS[name]
    head, _, rest = name.partition(".")
    if head == "metadata" and rest:
        return _json_spec(name, Table.ACCOUNTS, "metadata", rest)
    raise InvalidInput(
        f"unknown account field {name!r}: an account filter names name, domain, "
        "engagement_level, profile_level, created_at or metadata.<path>; "
        "conditions on leads go inside a 'leads' node"
    )


def resolve_event_field(name: str) -> FieldSpec:
    """Inside an event's `where`: a dotted path into the event's metadata."""
    return _json_spec(name, Table.EVENTS, "metadata", name)
