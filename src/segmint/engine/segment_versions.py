"""Every saved version of a segment's definition: its name, description and filter, who saved
it and when. A save that changes none of the three records nothing (colour, active, tags are
not part of a version). Restoring is a save like any other (segments.restore_version)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from segmint.clock import as_utc
from segmint.errors import NotFound
from segmint.projects import Project
from segmint.store.tables import segment_versions, users

MAX_LIMIT = 100


@dataclass(frozen=True)
class Version:
    number: int
    filter_version: int
    name: str
    description: str
    filter: Any
    restored_from: int | None
    saved_by: str | None  # the saver's email; null once they are gone, or when unknown
    saved_at: datetime


def record_version(
    conn: sa.Connection,
    project: Project,
    segment: Any,
    saved_by: int | None,
    now: datetime,
    restored_from: int | None = None,
) -> int:
    """Store `segment` (a row as just saved) as its next version; returns its number. Called
    after the segment's row was updated: that row's lock orders concurrent saves on PostgreSQL,
    so each reads the number the one before it wrote."""
    number = (latest_number(conn, project, segment.id) or 0) + 1
    conn.execute(
        segment_versions.insert().values(
            project_id=project.id,
            segment_id=segment.id,
            number=number,
            filter_version=segment.version,
            name=segment.name,
            description=segment.description,
            filter=segment.filter,
            restored_from=restored_from,
            created_by=saved_by,
            created_at=now,
        )
    )
    return number


def _select() -> sa.Select[Any]:
    return sa.select(segment_versions, users.c.email.label("saved_by_email")).join(
        users, users.c.id == segment_versions.c.created_by, isouter=True
    )


def _version(row: Any) -> Version:
    return Version(
        number=row.number,
        filter_version=row.filter_version,
        name=row.name,
        description=row.description,
        filter=row.filter,
        restored_from=row.restored_from,
        saved_by=row.saved_by_email,
        saved_at=as_utc(row.created_at),
    )


def list_versions(
    conn: sa.Connection, project: Project, segment_id: int, before: int | None, limit: int
) -> list[Version]:
    """Newest first, `limit` at a time, from below version `before` (a keyset, never OFFSET)."""
    query = _select().where(
        segment_versions.c.project_id == project.id, segment_versions.c.segment_id == segment_id
    )
    if before is not None:
        query = query.where(segment_versions.c.number < before)
    ordered = query.order_by(segment_versions.c.number.desc()).limit(limit)
    return [_version(row) for row in conn.execute(ordered)]


def get_version(conn: sa.Connection, project: Project, segment_id: int, number: int) -> Version:
    row = conn.execute(
        _select().where(
            segment_versions.c.project_id == project.id,
            segment_versions.c.segment_id == segment_id,
            segment_versions.c.number == number,
        )
    ).first()
    if row is None:
        raise NotFound(f"segment {segment_id} has no version {number}")
    return _version(row)


def latest_number(conn: sa.Connection, project: Project, segment_id: int) -> int | None:
    """The number of the segment's current version (None before its first)."""
    return conn.execute(
        sa.select(sa.func.max(segment_versions.c.number)).where(
            segment_versions.c.project_id == project.id,
            segment_versions.c.segment_id == segment_id,
        )
    ).scalar()
