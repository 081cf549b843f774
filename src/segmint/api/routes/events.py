"""Event ingestion."""

from __future__ import annotations

from fastapi import APIRouter

from segmint.api.deps import EngineDep, PrincipalDep, ProjectDep
from segmint.api.schemas import EventsIn, EventsResult, row_errors
from segmint.ingest import ingest_events

router = APIRouter(prefix="/api/v1/projects/{project}/events", tags=["events"])


@router.post("", response_model=EventsResult, summary="Record events (good ones kept)")
def post_events(
    body: EventsIn, engine: EngineDep, project: ProjectDep, _principal: PrincipalDep
) -> EventsResult:
    report = ingest_events(engine, project, enumerate(body.events))
    return EventsResult(
        accepted=report.counts.accepted,
        errors=row_errors(report.errors),
    )
