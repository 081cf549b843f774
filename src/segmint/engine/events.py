"""The rules of recording events, whoever records them (an import, the API, tracking links, a
campaign's sends): stored in the caller's transaction together with what follows from them:
the leads' last activity, their scores, and membership (through the outbox)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from segmint.engine import outbox, scoring
from segmint.projects import Project
from segmint.store.bulk import insert_rows
from segmint.store.tables import events, leads


@dataclass(frozen=True)
class NewEvent:
    lead_id: int
    type: str
    occurred_at: datetime
    metadata: Mapping[str, Any]


def record_events(
    conn: sa.Connection, project: Project, new_events: list[NewEvent], now: datetime
) -> None:
    """Store events of known leads in the caller's transaction, with what follows from them:
    the leads' last activity, their scores, and membership (through the outbox)."""
    if not new_events:
        return
    rows = [
        dict(
            project_id=project.id,
            lead_id=event.lead_id,
            type=event.type,
            occurred_at=event.occurred_at,
            metadata=dict(event.metadata),
            created_at=now,
        )
        for event in new_events
    ]
    insert_rows(conn, events, rows)
    latest: dict[int, datetime] = {}
    for event in new_events:
        latest[event.lead_id] = max(latest.get(event.lead_id, event.occurred_at), event.occurred_at)
    _touch_activity(conn, project, latest)
    outbox.leads_written(
        conn,
        project.id,
        latest,
        now,
        columns=["last_activity_at"],
        event_types={event.type for event in new_events},
    )
    scoring.rescore(conn, project, list(latest), now)  # scores follow at once


def _touch_activity(conn: sa.Connection, project: Project, latest: dict[int, datetime]) -> None:
    """last_activity_at is the latest occurred_at of a lead's events."""
    column = leads.c.last_activity_at
    statement = (
        leads.update()
        .where(
            leads.c.project_id == project.id,
            leads.c.id == sa.bindparam("b_id"),
            sa.or_(column.is_(None), column < sa.bindparam("b_at")),
        )
        .values(last_activity_at=sa.bindparam("b_at"))
    )
    conn.execute(statement, [{"b_id": k, "b_at": v} for k, v in latest.items()])
