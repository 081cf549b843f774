"""A project's settings: its name, time zone and lead statuses.

Changing them must not strand data: a status still carried by leads cannot be removed (a filter
naming a removed status simply matches nobody); a new time zone moves calendar periods ("this
week"), so every active segment is re-synced.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.engine.membership import Reason
from segmint.engine.segments import resync_later
from segmint.errors import Conflict, InvalidInput
from segmint.projects import Project, check_timezone, get_project_by_id
from segmint.store.tables import leads, projects, segments

STATUS_MAX = 64
STATUSES_MAX = 50


def public_settings(project: Project) -> dict[str, Any]:
    return {
        "name": project.name,
        "slug": project.slug,
        "timezone": project.timezone,
        "statuses": list(project.statuses),
        "converted_status": project.converted_status,
    }


def _statuses(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list) or not values:
        raise InvalidInput("expected a non-empty list of statuses", "statuses")
    if len(values) > STATUSES_MAX:
        raise InvalidInput(f"at most {STATUSES_MAX} statuses", "statuses")
    cleaned: list[str] = []
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip() or len(value) > STATUS_MAX:
            raise InvalidInput(f"expected a status of 1-{STATUS_MAX} characters", f"statuses[{i}]")
        status = value.strip().lower()
        if status in cleaned:
            raise InvalidInput(f"{status!r} is listed twice", f"statuses[{i}]")
        cleaned.append(status)
    return tuple(cleaned)


def _check_removed(conn: sa.Connection, project: Project, removed: set[str]) -> None:
    if not removed:
        return
    used = conn.execute(
        sa.select(leads.c.status, sa.func.count())
        .where(leads.c.project_id == project.id, leads.c.status.in_(sorted(removed)))
        .group_by(leads.c.status)
        .order_by(leads.c.status)
    ).first()
    if used is not None:
        raise Conflict(
            f"status {used[0]!r} is carried by {used[1]} leads: change them first", "statuses"
        )


def update_settings(
    conn: sa.Connection, project: Project, data: dict[str, Any], clock: Clock = SYSTEM_CLOCK
) -> Project:
    name = data.get("name", project.name)
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise InvalidInput("expected a name of 1-255 characters", "name")
    timezone = data.get("timezone", project.timezone)
    check_timezone(timezone)
    statuses = _statuses(data["statuses"]) if "statuses" in data else project.statuses
    converted = data.get("converted_status", project.converted_status)
    if converted not in statuses:
        raise InvalidInput("must be one of the project's statuses", "converted_status")
    changed = replace(
        project,
        name=name.strip(),
        timezone=timezone,
        statuses=statuses,
        converted_status=converted,
    )
    _check_removed(conn, project, set(project.statuses) - set(statuses))
    conn.execute(
        projects.update()
        .where(projects.c.id == project.id)
        .values(
            name=changed.name,
            timezone=timezone,
            statuses=list(statuses),
            converted_status=converted,
        )
    )
    if timezone != project.timezone:
        _resync_active(conn, project, clock)
    return get_project_by_id(conn, project.id)


def _resync_active(conn: sa.Connection, project: Project, clock: Clock) -> None:
    active = conn.execute(
        sa.select(segments.c.id)
        .where(
            segments.c.project_id == project.id,
            segments.c.active.is_(True),  # lead and account segments: both read the zone
        )
        .order_by(segments.c.id)
    ).scalars()
    now = clock.now()
    for segment_id in active:
        resync_later(conn, project, segment_id, Reason.SETTINGS, now)
