"""Event ingestion."""

from __future__ import annotations

from fastapi import APIRouter

from segmint.api.deps import ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.events import EventsIn, EventsResult
from segmint.api.schemas.leads import row_errors
from segmint.ingest import ingest_events

router = APIRouter(prefix="/projects/{project}/events", tags=["events"])


@router.post("", response_model=EventsResult, summary="Record events (good ones kept)")
def post_events(
    body: EventsIn,
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    clock: ClockDep,
) -> EventsResult:
    conn.commit()  # the project's lookup is done: each batch is a transaction of its own
    report = ingest_events(conn, project, enumerate(body.events), clock)
    return EventsResult(
        accepted=report.counts.accepted,
        errors=row_errors(report.errors),
    )
