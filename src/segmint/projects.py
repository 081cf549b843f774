"""Projects (the tenant boundary) and their custom field definitions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.errors import Conflict, InvalidInput, NotFound
from segmint.model import CUSTOM_FIELD_TYPES, DEFAULT_CONVERTED_STATUS, DEFAULT_STATUSES
from segmint.storable import check_storable
from segmint.store.tables import custom_fields, projects

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
CUSTOM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class CustomField:
    key: str
    label: str
    type: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Project:
    id: int
    organization_id: int
    slug: str
    name: str
    timezone: str
    statuses: tuple[str, ...]
    converted_status: str
    custom_fields: dict[str, CustomField] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def create_project(
    conn: sa.Connection,
    organization_id: int,
    slug: str,
    name: str | None = None,
    timezone: str = "UTC",
    statuses: tuple[str, ...] = DEFAULT_STATUSES,
    converted_status: str = DEFAULT_CONVERTED_STATUS,
    clock: Clock = SYSTEM_CLOCK,
) -> Project:
    if not SLUG.fullmatch(slug):
        raise InvalidInput("use lower-case letters, digits and '-' (at most 64)", "slug")
    check_timezone(timezone)
    if converted_status not in statuses:
        raise InvalidInput("must be one of the project's statuses", "converted_status")
    exists = conn.execute(
        sa.select(projects.c.id).where(
            projects.c.organization_id == organization_id, projects.c.slug == slug
        )
    ).first()
    if exists:
        raise Conflict(f"a project {slug!r} already exists", "slug")
    conn.execute(
        projects.insert().values(
            organization_id=organization_id,
            slug=slug,
            name=name or slug,
            timezone=timezone,
            statuses=list(statuses),
            converted_status=converted_status,
            created_at=clock.now(),
        )
    )
    return get_project(conn, organization_id, slug)


def check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}", "timezone") from None


def get_project(conn: sa.Connection, organization_id: int, slug: str) -> Project:
    row = conn.execute(
        sa.select(projects).where(
            projects.c.organization_id == organization_id, projects.c.slug == slug
        )
    ).first()
    if row is None:
        raise NotFound(f"no project {slug!r}")
    return _project(conn, row)


def get_project_by_id(conn: sa.Connection, project_id: int) -> Project:
    row = conn.execute(sa.select(projects).where(projects.c.id == project_id)).first()
    if row is None:
        raise NotFound(f"no project {project_id}")
    return _project(conn, row)


def _project(conn: sa.Connection, row: sa.Row[Any]) -> Project:
    return Project(
        id=row.id,
        organization_id=row.organization_id,
        slug=row.slug,
        name=row.name,
        timezone=row.timezone,
        statuses=tuple(row.statuses),
        converted_status=row.converted_status,
        custom_fields=list_custom_fields(conn, row.id),
    )


def list_custom_fields(conn: sa.Connection, project_id: int) -> dict[str, CustomField]:
    rows = conn.execute(
        sa.select(custom_fields)
        .where(custom_fields.c.project_id == project_id)
        .order_by(custom_fields.c.id)
    )
    return {r.key: CustomField(r.key, r.label, r.type, tuple(r.options or ())) for r in rows}


def add_custom_field(
    conn: sa.Connection,
    project_id: int,
    key: str,
    label: str | None = None,
    type: str = "text",
    options: list[str] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> CustomField:
    # fullmatch: `$` alone would also accept a key ending in a newline.
    if not CUSTOM_KEY.fullmatch(key):
        raise InvalidInput(
            "must start with a letter; lower-case letters, digits and '_' (at most 64)", "key"
        )
    check_storable({"label": label, "options": options})
    if type not in CUSTOM_FIELD_TYPES:
        raise InvalidInput(f"must be one of {', '.join(CUSTOM_FIELD_TYPES)}", "type")
    if type == "select" and not options:
        raise InvalidInput("a select field needs at least one option", "options")
    if key in list_custom_fields(conn, project_id):
        raise Conflict(f"custom field {key!r} already exists", "key")
    definition = CustomField(
        key, label or key.replace("_", " ").title(), type, tuple(options or ())
    )
    conn.execute(
        custom_fields.insert().values(
            project_id=project_id,
            key=definition.key,
            label=definition.label,
            type=definition.type,
            options=list(definition.options),
            created_at=clock.now(),
        )
    )
    return definition
