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
from segmint.store.tables import (
    account_membership_history,
    accounts,
    campaigns,
    custom_fields,
    index_changes,
    leads,
    lists,
    membership_history,
    projects,
    segments,
    webhooks,
    work_items,
)

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
SLUG_RULE = "use 1-64 lower-case letters, digits and '-', starting with a letter or digit"
NAME_MAX = 255
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
    check_slug(slug)
    check_timezone(timezone)
    if converted_status not in statuses:
        raise InvalidInput("must be one of the project's statuses", "converted_status")
    _check_slug_free(conn, organization_id, slug)
    conn.execute(
        projects.insert().values(
            organization_id=organization_id,
            slug=slug,
            name=check_project_name(name) if name is not None else slug,
            timezone=timezone,
            statuses=list(statuses),
            converted_status=converted_status,
            created_at=clock.now(),
        )
    )
    return get_project(conn, organization_id, slug)


def check_slug(slug: object) -> str:
    # fullmatch: `$` alone would also accept a slug ending in a newline.
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        raise InvalidInput(f"{slug!r} is not a valid slug: {SLUG_RULE}", "slug")
    return slug


def check_project_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("is required", "name")
    text = name.strip()
    if len(text) > NAME_MAX:
        raise InvalidInput(f"must be at most {NAME_MAX} characters", "name")
    check_storable(text, "name")
    return text


def _check_slug_free(conn: sa.Connection, organization_id: int, slug: str) -> None:
    exists = conn.execute(
        sa.select(projects.c.id).where(
            projects.c.organization_id == organization_id, projects.c.slug == slug
        )
    ).first()
    if exists:
        raise Conflict(f"a project {slug!r} already exists", "slug")


def list_projects(conn: sa.Connection, organization_id: int) -> list[Project]:
    """The organization's projects, oldest first (custom fields left out: a listing shows none)."""
    rows = conn.execute(
        sa.select(projects)
        .where(projects.c.organization_id == organization_id)
        .order_by(projects.c.id)
    )
    return [
        Project(
            id=r.id,
            organization_id=r.organization_id,
            slug=r.slug,
            name=r.name,
            timezone=r.timezone,
            statuses=tuple(r.statuses),
            converted_status=r.converted_status,
        )
        for r in rows
    ]


def rename_project(
    conn: sa.Connection, project: Project, name: str | None = None, slug: str | None = None
) -> Project:
    """A new name and/or slug (unique in the organization). Tokens and data follow the project,
    not its slug; only addresses that name the old slug stop working."""
    changes: dict[str, str] = {}
    if name is not None:
        changes["name"] = check_project_name(name)
    if slug is not None and slug != project.slug:
        changes["slug"] = check_slug(slug)
        _check_slug_free(conn, project.organization_id, slug)
    if changes:
        conn.execute(
            projects.update()
            .where(
                projects.c.id == project.id, projects.c.organization_id == project.organization_id
            )
            .values(**changes)
        )
    return get_project_by_id(conn, project.id)


# What a project must not hold to be deleted (what users made and would lose). Its settings,
# custom fields, scoring rules, mail settings and project-limited tokens go with it.
HOLDINGS: tuple[tuple[str, sa.Table], ...] = (
    ("leads", leads),
    ("accounts", accounts),
    ("segments", segments),
    ("lists", lists),
    ("campaigns", campaigns),
    ("webhooks", webhooks),
)


def holdings(conn: sa.Connection, project: Project) -> dict[str, int]:
    """How many of each kind of HOLDINGS the project has (those it has any of), in one query."""
    counts = sa.select(
        *(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.project_id == project.id)
            .scalar_subquery()
            .label(kind)
            for kind, table in HOLDINGS
        )
    )
    row = conn.execute(counts).one()
    return {kind: int(row[i]) for i, (kind, _) in enumerate(HOLDINGS) if row[i]}


def delete_project(conn: sa.Connection, project: Project) -> None:
    """Delete an empty project; refused (409) while it holds anything of HOLDINGS, naming what,
    and for the organization's only project (the UI and CLI need one to work in)."""
    held = holdings(conn, project)
    if held:
        # Every kind is a plural in -s: "1 lead, 12 segments".
        what = ", ".join(f"{n} {kind if n != 1 else kind[:-1]}" for kind, n in held.items())
        raise Conflict(f"project {project.slug!r} still holds {what}: delete them first", "project")
    others = conn.execute(
        sa.select(sa.func.count()).where(
            projects.c.organization_id == project.organization_id, projects.c.id != project.id
        )
    ).scalar()
    if not others:
        raise Conflict(f"project {project.slug!r} is the organization's only project", "project")
    # Logs without a foreign key to the project (their rows outlive what they record).
    for table in (membership_history, account_membership_history, work_items, index_changes):
        conn.execute(table.delete().where(table.c.project_id == project.id))
    conn.execute(
        projects.delete().where(
            projects.c.id == project.id, projects.c.organization_id == project.organization_id
        )
    )


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
