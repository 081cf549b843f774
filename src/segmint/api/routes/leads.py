"""Leads: CRUD, listing with the filter language, bulk upsert."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from segmint.api.deps import (
    AdminOnly,
    ClockDep,
    ConnectionDep,
    EngineDep,
    PrincipalDep,
    ProjectDep,
)
from segmint.api.routes.exports import ColumnsQuery, csv_download
from segmint.api.schemas.events import EventPage, EventPublic
from segmint.api.schemas.history import HistoryPage, history_page
from segmint.api.schemas.leads import (
    LeadBulkIn,
    LeadBulkResult,
    LeadCreate,
    LeadPage,
    LeadPublic,
    LeadUpdate,
    ScorePointList,
    ScorePointPublic,
    row_errors,
)
from segmint.api.schemas.segments import CountResult, SegmentList, SegmentPublic
from segmint.engine import answering, filtering, scoring
from segmint.engine import history as history_engine
from segmint.engine import leads as engine
from segmint.engine import segments as segments_engine
from segmint.engine.answering import ENGINE_HEADER
from segmint.engine.export import chosen_columns, export_audience, stream_csv
from segmint.engine.paging import MAX_PER_PAGE
from segmint.errors import InvalidInput
from segmint.index import Audience
from segmint.ingest import upsert_leads
from segmint.model import Role

router = APIRouter(prefix="/projects/{project}/leads", tags=["leads"])

# Which leads a listing or a count is of: the same two parameters on both.
FilterParam = Annotated[
    str | None, Query(description="A filter tree as JSON (see the filter language).")
]
SearchParam = Annotated[str | None, Query(description="Search in name, email and company.")]


def _public(row: object) -> LeadPublic:
    return LeadPublic.model_validate(engine.public(row))


@router.get("", response_model=LeadPage, summary="List leads (filter, search, sort, page)")
def list_leads(
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    filter: FilterParam = None,
    q: SearchParam = None,
    sort: Annotated[str, Query(description="A field, `-` for descending.")] = "-created_at",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50,
    *,
    response: Response,
) -> LeadPage:
    audience = Audience(filtering.lead_filters(conn, project, filter, q, principal))
    order = engine.parse_sort(sort)
    result = engine.audience_page(conn, project, audience, order, page, per_page, clock.now())
    response.headers[ENGINE_HEADER] = result.engine
    return LeadPage(
        items=[LeadPublic.model_validate(i) for i in result.items],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
    )


@router.get("/count", response_model=CountResult, summary="Count leads (filter, search)")
def count_leads(
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    filter: FilterParam = None,
    q: SearchParam = None,
    *,
    response: Response,
) -> CountResult:
    """All of the project's leads, or those a filter and a search select: the whole a share
    ("12% of all leads") is taken of."""
    audience = Audience(filtering.lead_filters(conn, project, filter, q, principal))
    now = clock.now()
    total, response.headers[ENGINE_HEADER] = answering.count(conn, project, audience, now)
    return CountResult(count=total, evaluated_at=now)


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    summary="Export leads as CSV: those a filter and a search select, or given ids (streamed)",
    responses={200: {"content": {"text/csv": {}}}},
)
def export_leads(
    conn: ConnectionDep,
    db: EngineDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    filter: FilterParam = None,
    q: SearchParam = None,
    ids: Annotated[
        str | None,
        Query(description="Lead ids separated by commas (at most 10,000), instead of a filter."),
    ] = None,
    columns: ColumnsQuery = None,
) -> StreamingResponse:
    chosen = chosen_columns(columns)  # refused before the first byte: a stream has its status
    if ids is not None:
        if filter is not None or q is not None:
            raise InvalidInput("ids select alone: no filter or search with them", "ids")
        try:
            where = engine.having_ids(conn, project, _id_list(ids))
        except InvalidInput as exc:
            raise InvalidInput(exc.message, "ids") from None
        chunks = stream_csv(db, where, chosen)
        return csv_download(chunks, "leads_export.csv", answering.SQL)
    audience = Audience(filtering.lead_filters(conn, project, filter, q, principal))
    chunks, answered_by = export_audience(conn, db, project, audience, clock.now(), chosen)
    return csv_download(chunks, "leads_export.csv", answered_by)


def _id_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput("expected lead ids separated by commas", "ids") from None


@router.post("", response_model=LeadPublic, status_code=201, summary="Create a lead")
def create_lead(
    body: LeadCreate,
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    clock: ClockDep,
) -> LeadPublic:
    return _public(engine.create_lead(conn, project, body.model_dump(exclude_unset=True), clock))


@router.post("/bulk", response_model=LeadBulkResult, summary="Upsert many leads by email")
def bulk_upsert(
    body: LeadBulkIn,
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    clock: ClockDep,
) -> LeadBulkResult:
    conn.commit()  # the project's lookup is done: each batch is a transaction of its own
    rows = enumerate(body.leads)
    report = upsert_leads(
        conn, project, rows, body.on_conflict, clock, keep_blank=True, unit="index"
    )
    counts = report.counts
    return LeadBulkResult(
        created=counts.created,
        updated=counts.updated,
        skipped=counts.skipped,
        errors=row_errors(report.errors),
        warnings=report.warnings,
    )


@router.get("/{lead_id}", response_model=LeadPublic, summary="Get a lead")
def get_lead(
    lead_id: int, conn: ConnectionDep, project: ProjectDep, _principal: PrincipalDep
) -> LeadPublic:
    return _public(engine.get_lead(conn, project, lead_id))


@router.patch("/{lead_id}", response_model=LeadPublic, summary="Update a lead")
def update_lead(
    lead_id: int,
    body: LeadUpdate,
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    clock: ClockDep,
) -> LeadPublic:
    changes = body.model_dump(exclude_unset=True)
    return _public(engine.update_lead(conn, project, lead_id, changes, clock))


@router.delete(
    "/{lead_id}",
    status_code=204,
    dependencies=[AdminOnly],
    summary="Delete a lead and its events (owner or admin)",
)
def delete_lead(
    lead_id: int, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> Response:
    engine.delete_lead(conn, project, lead_id, clock)
    return Response(status_code=204)


@router.get(
    "/{lead_id}/segments",
    response_model=SegmentList,
    summary="The segments this lead is in now (of those the caller may see)",
)
def lead_segments(
    lead_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> SegmentList:
    engine.get_lead(conn, project, lead_id)
    scope = segments_engine.Scope(everyone=principal.role != Role.MEMBER)
    listed = segments_engine.list_segments(conn, project, principal, scope, None)
    rows = [r for r in listed if segments_engine.readable(conn, project, principal, r)]
    matching = filtering.segments_containing(conn, project, rows, lead_id, clock.now())
    shown = [r for r in rows if r.id in matching]
    public = segments_engine.public_segments(conn, project, principal, shown, {})
    return SegmentList(items=[SegmentPublic.model_validate(p) for p in public])


@router.get(
    "/{lead_id}/history",
    response_model=HistoryPage,
    summary="The lead's entries and exits across segments (newest first)",
)
def lead_history(
    lead_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    after: Annotated[int | None, Query(description="`next_after` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=history_engine.MAX_LIMIT)] = 100,
) -> HistoryPage:
    engine.get_lead(conn, project, lead_id)
    return history_page(history_engine.lead_history(conn, project, lead_id, after, limit), limit)


@router.get(
    "/{lead_id}/events",
    response_model=EventPage,
    summary="The lead's events, newest first (its timeline)",
)
def lead_events(
    lead_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    before: Annotated[int | None, Query(description="`next_before` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EventPage:
    engine.get_lead(conn, project, lead_id)
    items = engine.lead_events(conn, project, lead_id, before, limit)
    next_before = items[-1]["id"] if len(items) == limit else None
    timeline = [EventPublic.model_validate(i) for i in items]
    return EventPage(items=timeline, next_before=next_before)


@router.get(
    "/{lead_id}/score-history",
    response_model=ScorePointList,
    summary="The lead's engagement score each time it changed, newest first",
)
def score_history(
    lead_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ScorePointList:
    engine.get_lead(conn, project, lead_id)
    points = scoring.score_history_of(conn, project, lead_id, limit)
    return ScorePointList(items=[ScorePointPublic.model_validate(p) for p in points])
