"""What uses a segment or a list: the segments, campaigns and lists that would break or change
if it went. A delete asks first (and refuses unless forced); a segment's page shows it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from segmint.filters import stored_list_ids, stored_segment_ids
from segmint.projects import Project
from segmint.store.tables import campaigns, lists, segments


@dataclass(frozen=True)
class User:
    """One object that uses another: its kind (segment, campaign, list), id and name."""

    kind: str
    id: int
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r}"


@dataclass(frozen=True)
class Usage:
    segments: list[User] = field(default_factory=list)
    campaigns: list[User] = field(default_factory=list)
    lists: list[User] = field(default_factory=list)

    def all(self) -> list[User]:
        return [*self.segments, *self.campaigns, *self.lists]


def segment_usage(conn: sa.Connection, project: Project, segment_id: int) -> Usage:
    """Segments and lists whose filters refer to the segment (`in_segment`), and campaigns that
    include or exclude it or refer to it in their filter."""
    return _usage(
        conn,
        project,
        refers=lambda stored: segment_id in stored_segment_ids(stored),
        targets=lambda row: segment_id in (*row.include_segments, *row.exclude_segments),
        skip_segment=segment_id,
    )


def list_usage(conn: sa.Connection, project: Project, list_id: int) -> Usage:
    """Segments and lists whose filters refer to the list (`in_list`), and campaigns that
    include or exclude it or refer to it in their filter."""
    return _usage(
        conn,
        project,
        refers=lambda stored: list_id in stored_list_ids(stored),
        targets=lambda row: list_id in (*row.include_lists, *row.exclude_lists),
        skip_list=list_id,
    )


def _usage(
    conn: sa.Connection,
    project: Project,
    refers: Callable[[Any], bool],
    targets: Callable[[Any], bool],
    skip_segment: int | None = None,
    skip_list: int | None = None,
) -> Usage:
    segment_rows = conn.execute(
        sa.select(segments.c.id, segments.c.name, segments.c.filter)
        .where(segments.c.project_id == project.id)
        .order_by(segments.c.name, segments.c.id)
    )
    list_rows = conn.execute(
        sa.select(lists.c.id, lists.c.name, lists.c.filter)
        .where(lists.c.project_id == project.id)
        .order_by(lists.c.name, lists.c.id)
    )
    campaign_rows = conn.execute(
        sa.select(
            campaigns.c.id,
            campaigns.c.name,
            campaigns.c.filter,
            campaigns.c.include_segments,
            campaigns.c.exclude_segments,
            campaigns.c.include_lists,
            campaigns.c.exclude_lists,
        )
        .where(campaigns.c.project_id == project.id)
        .order_by(campaigns.c.name, campaigns.c.id)
    )
    return Usage(
        segments=[
            User("segment", r.id, r.name)
            for r in segment_rows
            if r.id != skip_segment and refers(r.filter)
        ],
        campaigns=[
            User("campaign", r.id, r.name) for r in campaign_rows if targets(r) or refers(r.filter)
        ],
        lists=[
            User("list", r.id, r.name)
            for r in list_rows
            if r.id != skip_list and r.filter is not None and refers(r.filter)
        ],
    )


# What a segment's deletion does to the campaigns that use it (DELETE /segments/{id}?campaigns=):
DETACH = "detach"  # the segment is taken out of their included and excluded segments
KEEP = "keep"  # they keep naming it, and show "segment ... was deleted" until edited
CAMPAIGN_CHOICES = (DETACH, KEEP)


def detach_segment(
    conn: sa.Connection, project: Project, segment_id: int, now: datetime
) -> list[User]:
    """Take the segment out of every campaign's included and excluded segments; the campaigns
    changed. One that is left including nothing cannot send, and says so (campaigns/audience.py).
    A reference inside a campaign's extra filter is not rewritten: that would change what the
    filter means, so such a campaign shows the deleted segment as an error instead."""
    rows = conn.execute(
        sa.select(
            campaigns.c.id,
            campaigns.c.name,
            campaigns.c.include_segments,
            campaigns.c.exclude_segments,
        )
        .where(campaigns.c.project_id == project.id)
        .order_by(campaigns.c.id)
        # Locked (PostgreSQL): an edit saved meanwhile would otherwise put the segment back, or
        # lose its own change to the targeting written here.
        .with_for_update()
    ).all()
    changed = []
    for row in rows:
        if segment_id not in (*row.include_segments, *row.exclude_segments):
            continue
        conn.execute(
            campaigns.update()
            .where(campaigns.c.project_id == project.id, campaigns.c.id == row.id)
            .values(
                include_segments=[s for s in row.include_segments if s != segment_id],
                exclude_segments=[s for s in row.exclude_segments if s != segment_id],
                updated_at=now,
            )
        )
        changed.append(User("campaign", row.id, row.name))
    return changed
