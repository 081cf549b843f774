"""The per-lead event counters (migration 0008) stay exact however events arrive and leave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.clock import as_utc
from segmint.ingest import ingest_events, upsert_leads
from segmint.projects import Project
from segmint.store.tables import events, lead_event_counts, leads

DAY = datetime(2026, 10, 1, tzinfo=UTC)


def _counters(db: Engine) -> dict[tuple[int, str], tuple[int, datetime, datetime]]:
    with db.connect() as conn:
        rows = conn.execute(sa.select(lead_event_counts)).all()
    return {(r.lead_id, r.type): (r.total, as_utc(r.first_at), as_utc(r.last_at)) for r in rows}


def _from_events(db: Engine) -> dict[tuple[int, str], tuple[int, datetime, datetime]]:
    e = events.c
    query = sa.select(
        e.lead_id, e.type, sa.func.count(), sa.func.min(e.occurred_at), sa.func.max(e.occurred_at)
    ).group_by(e.lead_id, e.type)
    with db.connect() as conn:
        return {(r[0], r[1]): (r[2], as_utc(r[3]), as_utc(r[4])) for r in conn.execute(query)}


def _event(lead_id: int, kind: str, days: int) -> dict[str, Any]:
    return {"lead_id": lead_id, "type": kind, "occurred_at": DAY + timedelta(days=days)}


def test_counters_follow_every_way_events_come_and_go(db: Engine, project: Project) -> None:
    upsert_leads(db, project, enumerate([{"email": "a@x.test"}, {"email": "b@x.test"}]))
    with db.connect() as conn:
        a, b = conn.execute(sa.select(leads.c.id).order_by(leads.c.id)).scalars().all()
    ingest_events(
        db,
        project,
        enumerate([_event(a, "page_view", 3), _event(a, "page_view", 1), _event(b, "signup", 2)]),
    )
    with db.begin() as conn:  # rows written directly, several in one statement
        conn.execute(
            events.insert(),
            [
                {
                    **_event(a, "page_view", 9),
                    "project_id": project.id,
                    "metadata": {},
                    "created_at": DAY,
                },
                {
                    **_event(b, "page_view", 0),
                    "project_id": project.id,
                    "metadata": {},
                    "created_at": DAY,
                },
            ],
        )
    assert _counters(db)[(a, "page_view")] == (3, DAY + timedelta(days=1), DAY + timedelta(days=9))
    assert _counters(db) == _from_events(db)

    with db.begin() as conn:  # the latest page view of a goes: its last_at moves back
        conn.execute(events.delete().where(events.c.occurred_at == DAY + timedelta(days=9)))
    assert _counters(db)[(a, "page_view")] == (2, DAY + timedelta(days=1), DAY + timedelta(days=3))
    with db.begin() as conn:  # b's only signup goes: no counter at zero is left behind
        conn.execute(events.delete().where(events.c.type == "signup"))
    assert (b, "signup") not in _counters(db)
    assert _counters(db) == _from_events(db)

    with db.begin() as conn:  # a lead's deletion takes its counters along
        conn.execute(leads.delete().where(leads.c.id == a))
    assert (
        _counters(db)
        == _from_events(db)
        == {
            (b, "page_view"): (1, DAY, DAY),
        }
    )
