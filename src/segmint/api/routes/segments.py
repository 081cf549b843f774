"""Segments: saved filters, evaluated live."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from segmint.api.deps import ClockDep, ConnectionDep, EngineDep, PrincipalDep, ProjectDep
from segmint.api.routes.exports import ColumnsQuery, csv_download
from segmint.api.routes.lists import list_public
from segmint.api.schemas.common import UsagePublic
from segmint.api.schemas.filters import FilterIn
from segmint.api.schemas.history import HistoryPage, history_page
from segmint.api.schemas.leads import LeadPage, LeadPublic
from segmint.api.schemas.lists import ListPublic
from segmint.api.schemas.segments import (
    ConditionCounts,
    CountResult,
    ManualChangePublic,
    ManualLeadsIn,
    ManualMemberPage,
    Preview,
    SegmentAnalytics,
    SegmentCreate,
    SegmentList,
    SegmentPublic,
    SegmentUpdate,
)
from segmint.engine import analytics as analytics_engine
from segmint.engine import answering, filtering
from segmint.engine import history as history_engine
from segmint.engine import leads as leads_engine
from segmint.engine import manual as manual_engine
from segmint.engine import segments as engine
from segmint.engine import usage as usage_engine
from segmint.engine.answering import ENGINE_HEADER
from segmint.engine.export import chosen_columns, export_audience, export_filename
from segmint.engine.paging import MAX_PER_PAGE
from segmint.store.rows import SegmentWithCreator

router = APIRouter(prefix="/projects/{project}/segments", tags=["segments"])


def _public(row: SegmentWithCreator, member_count: int | None) -> SegmentPublic:
    return SegmentPublic.model_validate(engine.public_segment(row, member_count))


@router.get("", response_model=SegmentList, summary="List segments with live member counts")
def list_segments(
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    scope: Annotated[str, Query(description="mine (default) or all (owners and admins).")] = "mine",
    q: Annotated[str | None, Query(description="Search names and descriptions.")] = None,
) -> SegmentList:
    rows = engine.list_segments(conn, project, principal, engine.Scope.parse(scope, principal), q)
    counts = engine.member_counts(conn, project, rows, principal, clock)
    return SegmentList(items=[_public(r, counts[r.id]) for r in rows])


@router.post("", response_model=SegmentPublic, status_code=201, summary="Create a segment")
def create_segment(
    body: SegmentCreate,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> SegmentPublic:
    row = engine.create_segment(conn, project, principal, body.model_dump(), clock)
    total = engine.count(conn, project, row, clock).total
    return _public(engine.get_segment(conn, project, row.id), total)


@router.post("/preview", response_model=Preview, summary="Count and sample an unsaved filter")
def preview(
    body: FilterIn,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    response: Response,
) -> Preview:
    result = engine.preview(conn, project, body.filter, principal, clock)
    response.headers[ENGINE_HEADER] = result.pop("engine")
    return Preview.model_validate(result)


@router.post(
    "/preview/conditions",
    response_model=ConditionCounts,
    summary="How many leads each condition of an unsaved filter matches on its own",
)
def preview_conditions(
    body: FilterIn,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    response: Response,
) -> ConditionCounts:
    counts, response.headers[ENGINE_HEADER] = engine.condition_counts(
        conn, project, body.filter, principal, clock
    )
    return ConditionCounts.model_validate({"items": counts})


@router.get("/{segment_id}", response_model=SegmentPublic, summary="Get a segment")
def get_segment(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> SegmentPublic:
    row = engine.visible_segment(conn, project, principal, segment_id)
    total = engine.count(conn, project, row, clock).total
    return _public(engine.get_segment(conn, project, segment_id), total)


@router.patch("/{segment_id}", response_model=SegmentPublic, summary="Update a segment")
def update_segment(
    segment_id: int,
    body: SegmentUpdate,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> SegmentPublic:
    changes = body.model_dump(exclude_unset=True)
    row = engine.update_segment(conn, project, principal, segment_id, changes, clock)
    total = engine.count(conn, project, row, clock).total
    return _public(engine.get_segment(conn, project, segment_id), total)


@router.delete("/{segment_id}", status_code=204, summary="Delete a segment (never its leads)")
def delete_segment(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    force: Annotated[bool, Query(description="Delete even if something uses it.")] = False,
) -> Response:
    engine.delete_segment(conn, project, principal, segment_id, force)
    return Response(status_code=204)


@router.get(
    "/{segment_id}/usage",
    response_model=UsagePublic,
    summary="What uses the segment (segments, campaigns, lists)",
)
def usage(
    segment_id: int, conn: ConnectionDep, project: ProjectDep, principal: PrincipalDep
) -> UsagePublic:
    engine.visible_segment(conn, project, principal, segment_id)
    return UsagePublic.of(usage_engine.segment_usage(conn, project, segment_id))


@router.get("/{segment_id}/count", response_model=CountResult, summary="Live member count")
def count(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    response: Response,
) -> CountResult:
    row = engine.visible_segment(conn, project, principal, segment_id)
    counted = engine.count(conn, project, row, clock)
    response.headers[ENGINE_HEADER] = counted.engine
    return CountResult(count=counted.total, evaluated_at=counted.at, frozen=not row.active)


@router.get("/{segment_id}/members", response_model=LeadPage, summary="Current members")
def members(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50,
    sort: Annotated[str, Query(description="A field, `-` for descending.")] = "-created_at",
    q: Annotated[str | None, Query(description="Search name, email and company.")] = None,
    *,
    response: Response,
) -> LeadPage:
    row = engine.visible_segment(conn, project, principal, segment_id)
    order = leads_engine.parse_sort(sort)
    result = engine.members(conn, project, row, order, page, per_page, q, clock)
    response.headers[ENGINE_HEADER] = result.engine
    return LeadPage(
        items=[LeadPublic.model_validate(i) for i in result.items],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
        frozen=not row.active,
    )


@router.get(
    "/{segment_id}/history",
    response_model=HistoryPage,
    summary="Who entered and left, when, under which version, and why",
)
def history(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    lead_id: Annotated[int | None, Query(description="Only this lead.")] = None,
    since: Annotated[datetime | None, Query(description="Only changes at or after.")] = None,
    after: Annotated[int | None, Query(description="`next_after` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=history_engine.MAX_LIMIT)] = 100,
    order: Annotated[
        Literal["asc", "desc"], Query(description="asc: oldest first (default); desc: newest.")
    ] = "asc",
) -> HistoryPage:
    engine.visible_segment(conn, project, principal, segment_id)
    items = history_engine.segment_history(
        conn, project, segment_id, lead_id, since, after, limit, newest_first=order == "desc"
    )
    return history_page(items, limit)


@router.get(
    "/{segment_id}/analytics",
    response_model=SegmentAnalytics,
    summary="Members, score and conversion now; a daily trend, entries and exits; top events",
)
def analytics(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    days: Annotated[
        int,
        Query(
            ge=1,
            le=analytics_engine.MAX_DAYS,
            description="Local days (the project's zone) of the daily series and top events.",
        ),
    ] = analytics_engine.DEFAULT_DAYS,
) -> SegmentAnalytics:
    row = engine.visible_segment(conn, project, principal, segment_id)
    result = analytics_engine.segment_analytics(conn, project, row, clock.now(), days)
    return SegmentAnalytics.model_validate(asdict(result))


@router.get(
    "/{segment_id}/export.csv",
    response_class=StreamingResponse,
    summary="Export every current member as CSV (streamed, no row cap)",
    responses={200: {"content": {"text/csv": {}}}},
)
def export(
    segment_id: int,
    conn: ConnectionDep,
    db: EngineDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    columns: ColumnsQuery = None,
) -> StreamingResponse:
    row = engine.visible_segment(conn, project, principal, segment_id)
    chosen = chosen_columns(columns)  # refused before the first byte: a stream has its status
    audience = answering.segment_audience(conn, project, row)
    chunks, answered_by = export_audience(conn, db, project, audience, clock.now(), chosen)
    return csv_download(chunks, export_filename(row.name), answered_by)


@router.post(
    "/{segment_id}/duplicate",
    response_model=SegmentPublic,
    status_code=201,
    summary="Copy a segment as '{name} (copy)'",
)
def duplicate(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> SegmentPublic:
    row = engine.duplicate_segment(conn, project, principal, segment_id, clock)
    total = engine.count(conn, project, row, clock).total
    return _public(engine.get_segment(conn, project, row.id), total)


@router.post(
    "/{segment_id}/convert-to-list",
    response_model=ListPublic,
    status_code=201,
    summary="Freeze the current members into a static list",
)
def convert_to_list(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> ListPublic:
    row = engine.visible_segment(conn, project, principal, segment_id)
    list_id = engine.convert_to_list(conn, project, principal, row, clock)
    return list_public(conn, project, list_id)


@router.get(
    "/{segment_id}/explain/{lead_id}",
    summary="Why a lead matches: each node's result and the lead's value",
)
def explain(
    segment_id: int,
    lead_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> dict[str, Any]:
    row = engine.visible_segment(conn, project, principal, segment_id)
    tree = filtering.segment_tree(conn, project, segment_id, row.filter)
    return filtering.explain_lead(conn, project, tree, lead_id, clock.now())


# -- manual membership: leads included or excluded by hand, beside the filter ------------------

AfterQuery = Annotated[int | None, Query(description="`next_after` of the previous page.")]
LimitQuery = Annotated[int, Query(ge=1, le=manual_engine.MAX_LIMIT)]


def _manual_page(
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    segment_id: int,
    kind: str,
    after: int | None,
    limit: int,
) -> ManualMemberPage:
    items = manual_engine.listing(conn, project, principal, segment_id, kind, after, limit)
    total = manual_engine.counts(conn, project, segment_id)[kind]
    next_after = items[-1]["lead_id"] if len(items) == limit else None
    return ManualMemberPage.model_validate(
        {"items": items, "total": total, "next_after": next_after}
    )


def _changed(change: manual_engine.ManualChange) -> ManualChangePublic:
    return ManualChangePublic(
        changed=change.changed, included=change.included, excluded=change.excluded
    )


@router.get(
    "/{segment_id}/includes",
    response_model=ManualMemberPage,
    summary="Leads included by hand (members whatever the filter says), in lead id order",
)
def includes(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    after: AfterQuery = None,
    limit: LimitQuery = 50,
) -> ManualMemberPage:
    return _manual_page(conn, project, principal, segment_id, manual_engine.INCLUDE, after, limit)


@router.post(
    "/{segment_id}/includes",
    response_model=ManualChangePublic,
    summary="Include leads by hand (an exclude of the same lead becomes an include)",
)
def add_includes(
    segment_id: int,
    body: ManualLeadsIn,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> ManualChangePublic:
    kind = manual_engine.INCLUDE
    return _changed(
        manual_engine.add(conn, project, principal, segment_id, kind, body.lead_ids, clock)
    )


@router.delete(
    "/{segment_id}/includes",
    response_model=ManualChangePublic,
    summary="Stop including leads by hand (their filter decides again)",
)
def remove_includes(
    segment_id: int,
    body: ManualLeadsIn,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> ManualChangePublic:
    kind = manual_engine.INCLUDE
    return _changed(
        manual_engine.remove(conn, project, principal, segment_id, kind, body.lead_ids, clock)
    )


@router.get(
    "/{segment_id}/excludes",
    response_model=ManualMemberPage,
    summary="Leads excluded by hand (never members), in lead id order",
)
def excludes(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    after: AfterQuery = None,
    limit: LimitQuery = 50,
) -> ManualMemberPage:
    return _manual_page(conn, project, principal, segment_id, manual_engine.EXCLUDE, after, limit)


@router.post(
    "/{segment_id}/excludes",
    response_model=ManualChangePublic,
    summary="Exclude leads by hand (an include of the same lead becomes an exclude)",
)
def add_excludes(
    segment_id: int,
    body: ManualLeadsIn,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> ManualChangePublic:
    kind = manual_engine.EXCLUDE
    return _changed(
        manual_engine.add(conn, project, principal, segment_id, kind, body.lead_ids, clock)
    )


@router.delete(
    "/{segment_id}/excludes",
    response_model=ManualChangePublic,
    summary="Stop excluding leads by hand (their filter decides again)",
)
def remove_excludes(
    segment_id: int,
    body: ManualLeadsIn,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> ManualChangePublic:
    kind = manual_engine.EXCLUDE
    return _changed(
        manual_engine.remove(conn, project, principal, segment_id, kind, body.lead_ids, clock)
    )
