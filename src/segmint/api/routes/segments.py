"""Segments: saved filters, evaluated live."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import Connection

from segmint.api.deps import ClockDep, ConnectionDep, EngineDep, PrincipalDep, ProjectDep
from segmint.api.routes.exports import ColumnsQuery, csv_download
from segmint.api.routes.lists import list_public
from segmint.api.schemas.common import UsagePublic
from segmint.api.schemas.filters import FilterIn
from segmint.api.schemas.history import (
    AccountHistoryPage,
    HistoryPage,
    account_history_page,
    history_page,
)
from segmint.api.schemas.leads import LeadPage, LeadPublic
from segmint.api.schemas.lists import ListPublic
from segmint.api.schemas.segments import (
    AccountMemberPage,
    AccountPreview,
    AccountSegmentAnalytics,
    ConditionCounts,
    CountResult,
    ManualChangePublic,
    ManualLeadsIn,
    ManualMemberPage,
    Preview,
    RefreshResult,
    ScoreBeforeAfter,
    ScoreDayPublic,
    ScoreTrend,
    SegmentAnalytics,
    SegmentCreate,
    SegmentFacets,
    SegmentList,
    SegmentPublic,
    SegmentUpdate,
    SegmentVersionPage,
    SegmentVersionPublic,
)
from segmint.auth import Principal
from segmint.engine import account_segments, answering, filtering
from segmint.engine import analytics as analytics_engine
from segmint.engine import history as history_engine
from segmint.engine import leads as leads_engine
from segmint.engine import manual as manual_engine
from segmint.engine import score_trend as score_trend_engine
from segmint.engine import segment_versions as versions_engine
from segmint.engine import segments as engine
from segmint.engine import usage as usage_engine
from segmint.engine.answering import ENGINE_HEADER
from segmint.engine.export import chosen_columns, export_audience, export_filename
from segmint.engine.paging import MAX_PER_PAGE
from segmint.errors import InvalidInput
from segmint.projects import Project
from segmint.store.rows import SegmentWithCreator

router = APIRouter(prefix="/projects/{project}/segments", tags=["segments"])

ScopeQuery = Annotated[str, Query(description="mine (default) or all (owners and admins).")]


def _public(
    conn: Connection,
    project: Project,
    principal: Principal,
    row: SegmentWithCreator,
    member_count: int | None,
) -> SegmentPublic:
    [public] = engine.public_segments(conn, project, principal, [row], {row.id: member_count})
    return SegmentPublic.model_validate(public)


@router.get(
    "",
    response_model=SegmentList,
    summary="List segments with live member counts, tags and their conditions in words",
)
def list_segments(
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    scope: ScopeQuery = "mine",
    q: Annotated[str | None, Query(description="Search names and descriptions.")] = None,
    created_by: Annotated[
        str | None, Query(description="Only the segments this user created: an email, or `me`.")
    ] = None,
    tag: Annotated[
        list[str] | None, Query(description="Only segments with this tag (repeat: with all).")
    ] = None,
) -> SegmentList:
    in_scope = engine.Scope.parse(scope, principal)
    rows = engine.list_segments(conn, project, principal, in_scope, q, created_by, tag)
    counts = engine.member_counts(conn, project, rows, principal, clock)
    public = engine.public_segments(conn, project, principal, rows, counts)
    return SegmentList(items=[SegmentPublic.model_validate(p) for p in public])


@router.get(
    "/facets",
    response_model=SegmentFacets,
    summary="The creators and tags the segments in scope can be filtered by, with counts",
)
def facets(
    conn: ConnectionDep, project: ProjectDep, principal: PrincipalDep, scope: ScopeQuery = "mine"
) -> SegmentFacets:
    found = engine.facets(conn, project, principal, engine.Scope.parse(scope, principal))
    return SegmentFacets.model_validate(
        {key: [asdict(facet) for facet in items] for key, items in found.items()}
    )


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
    return _public(conn, project, principal, engine.get_segment(conn, project, row.id), total)


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
    "/preview/accounts",
    response_model=AccountPreview,
    summary="Count and sample an unsaved account segment's filter",
)
def preview_accounts(
    body: FilterIn,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    response: Response,
) -> AccountPreview:
    result = account_segments.preview(conn, project, body.filter, principal, clock.now())
    response.headers[ENGINE_HEADER] = result.pop("engine")
    return AccountPreview.model_validate(result)


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
    return _public(conn, project, principal, engine.get_segment(conn, project, segment_id), total)


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
    return _public(conn, project, principal, engine.get_segment(conn, project, segment_id), total)


@router.get(
    "/{segment_id}/versions",
    response_model=SegmentVersionPage,
    summary="Every saved version of the segment (name, description, filter; who, when)",
)
def versions(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    before: Annotated[
        int | None, Query(ge=1, description="`next_before` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=versions_engine.MAX_LIMIT)] = 20,
) -> SegmentVersionPage:
    row = engine.visible_segment(conn, project, principal, segment_id)
    found = versions_engine.list_versions(conn, project, segment_id, before, limit)
    current = versions_engine.latest_number(conn, project, segment_id)
    items = _versions_public(conn, project, principal, found, current, row.audience)
    next_before = found[-1].number if len(found) == limit and found[-1].number > 1 else None
    return SegmentVersionPage(items=items, next_before=next_before)


@router.get(
    "/{segment_id}/versions/{number}",
    response_model=SegmentVersionPublic,
    summary="One saved version of the segment",
)
def version(
    segment_id: int,
    number: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
) -> SegmentVersionPublic:
    row = engine.visible_segment(conn, project, principal, segment_id)
    found = versions_engine.get_version(conn, project, segment_id, number)
    current = versions_engine.latest_number(conn, project, segment_id)
    [public] = _versions_public(conn, project, principal, [found], current, row.audience)
    return public


@router.post(
    "/{segment_id}/versions/{number}/restore",
    response_model=SegmentPublic,
    summary="Save an earlier version's name, description and filter as the newest version",
)
def restore(
    segment_id: int,
    number: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> SegmentPublic:
    row = engine.restore_version(conn, project, principal, segment_id, number, clock)
    total = engine.count(conn, project, row, clock).total
    return _public(conn, project, principal, engine.get_segment(conn, project, segment_id), total)


def _versions_public(
    conn: Connection,
    project: Project,
    principal: Principal,
    found: list[versions_engine.Version],
    current: int | None,
    audience: str,
) -> list[SegmentVersionPublic]:
    words = filtering.describe_stored(
        conn,
        project,
        principal,
        {v.number: v.filter for v in found},
        {v.number: audience for v in found},
    )
    return [
        SegmentVersionPublic.model_validate(
            {**asdict(v), "words": words[v.number], "current": v.number == current}
        )
        for v in found
    ]


@router.delete("/{segment_id}", status_code=204, summary="Delete a segment (never its leads)")
def delete_segment(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    force: Annotated[
        bool,
        Query(description="Delete even if something uses it (campaigns as with `keep`)."),
    ] = False,
    campaigns: Annotated[
        Literal["detach", "keep"] | None,
        Query(
            description=(
                "What happens to the campaigns that use it: `detach` removes it from their "
                "included and excluded segments (one left with no audience cannot send and "
                "says why); `keep` leaves them naming it, shown as an error (segment deleted) "
                "until edited. Without it (or `force`), a segment campaigns use answers 409."
            )
        ),
    ] = None,
) -> Response:
    engine.delete_segment(conn, project, principal, segment_id, force, campaigns, clock)
    return Response(status_code=204)


@router.post(
    "/{segment_id}/refresh",
    response_model=RefreshResult,
    summary="Recompute an inactive segment's frozen membership once (it stays inactive)",
    description=(
        "Brings the stored members to the filter's answer now, writing a history row (reason "
        "`refresh`) and queueing webhooks for each lead that entered or left, and stamps "
        "`last_evaluated_at`. The segment's creator and owners may refresh it; an active "
        "segment answers 409: its membership is always current."
    ),
)
def refresh(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> RefreshResult:
    done = engine.refresh_segment(conn, project, principal, segment_id, clock)
    return RefreshResult(
        entered=done.entered,
        exited=done.exited,
        member_count=done.member_count,
        refreshed_at=done.at,
    )


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
    frozen = not row.active
    return CountResult(count=counted.total, evaluated_at=counted.at, frozen=frozen)


@router.get(
    "/{segment_id}/accounts",
    response_model=AccountMemberPage,
    summary="An account segment's current members (accounts), keyset-paged by id",
)
def account_members(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    response: Response,
    after: Annotated[int | None, Query(description="`next_after` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=account_segments.MAX_PER_PAGE)] = 50,
) -> AccountMemberPage:
    row = engine.visible_segment(conn, project, principal, segment_id)
    account_segments.only_account_segment(row)
    members = account_segments.of_segment(conn, project, row, clock.now())
    found = account_segments.page(conn, project, members, after, limit)
    response.headers[ENGINE_HEADER] = found.engine
    return AccountMemberPage.model_validate({"items": found.items, "next_after": found.next_after})


@router.get(
    "/{segment_id}/accounts/export.csv",
    response_class=StreamingResponse,
    summary="Export an account segment's members as CSV (streamed, no row cap)",
    responses={200: {"content": {"text/csv": {}}}},
)
def export_accounts(
    segment_id: int,
    conn: ConnectionDep,
    db: EngineDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> StreamingResponse:
    row = engine.visible_segment(conn, project, principal, segment_id)
    account_segments.only_account_segment(row)
    found = account_segments.of_segment(conn, project, row, clock.now())
    chunks = account_segments.export_csv(db, found, project)
    return csv_download(chunks, export_filename(row.name), found.engine)


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
    response_model=HistoryPage | AccountHistoryPage,
    summary="Who entered and left, when, under which version, and why",
    description="A lead segment's rows name a `lead_id`; an account segment's an `account_id`.",
)
def history(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    lead_id: Annotated[int | None, Query(description="Only this lead.")] = None,
    account_id: Annotated[
        int | None, Query(description="Only this account (account segments).")
    ] = None,
    since: Annotated[datetime | None, Query(description="Only changes at or after.")] = None,
    after: Annotated[int | None, Query(description="`next_after` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=history_engine.MAX_LIMIT)] = 100,
    order: Annotated[
        Literal["asc", "desc"], Query(description="asc: oldest first (default); desc: newest.")
    ] = "asc",
) -> HistoryPage | AccountHistoryPage:
    row = engine.visible_segment(conn, project, principal, segment_id)
    newest_first = order == "desc"
    if account_segments.is_accounts(row):
        if lead_id is not None:
            raise InvalidInput("an account segment's history is of accounts", "lead_id")
        found = history_engine.account_segment_history(
            conn, project, segment_id, account_id, since, after, limit, newest_first
        )
        return account_history_page(found, limit)
    if account_id is not None:
        raise InvalidInput("a lead segment's history is of leads: use lead_id", "account_id")
    items = history_engine.segment_history(
        conn, project, segment_id, lead_id, since, after, limit, newest_first=newest_first
    )
    return history_page(items, limit)


@router.get(
    "/{segment_id}/analytics",
    response_model=SegmentAnalytics | AccountSegmentAnalytics,
    summary="Members, score and conversion now; a daily trend, entries and exits; top events",
    description="An account segment answers its member accounts, their leads and the daily "
    "trend of accounts (`audience: accounts`), from its maintained membership and history.",
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
) -> SegmentAnalytics | AccountSegmentAnalytics:
    row = engine.visible_segment(conn, project, principal, segment_id)
    if account_segments.is_accounts(row):
        found = analytics_engine.account_segment_analytics(conn, project, row, clock.now(), days)
        return AccountSegmentAnalytics.model_validate(asdict(found))
    result = analytics_engine.segment_analytics(conn, project, row, clock.now(), days)
    return SegmentAnalytics.model_validate(asdict(result))


@router.get(
    "/{segment_id}/analytics/scores",
    response_model=ScoreTrend,
    summary="The members' average score at the end of each day, from the score history",
)
def score_trend(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    days: Annotated[
        int, Query(ge=1, le=analytics_engine.MAX_DAYS, description="Local days, today last.")
    ] = analytics_engine.DEFAULT_DAYS,
) -> ScoreTrend:
    engine.visible_segment(conn, project, principal, segment_id)
    found = score_trend_engine.score_trend(conn, project, segment_id, clock.now(), days)
    return ScoreTrend(
        segment_id=segment_id,
        timezone=project.timezone,
        days=[ScoreDayPublic.model_validate(asdict(d)) for d in found],
    )


@router.get(
    "/{segment_id}/analytics/before-after",
    response_model=ScoreBeforeAfter,
    summary="The current members' average score at a date and some days after it",
)
def score_before_after(
    segment_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    at: Annotated[
        str,
        Query(
            description="A date (its start, in the project's zone) or an ISO date-time (without "
            "an offset: in the project's zone).",
            examples=["2026-11-01"],
        ),
    ],
    after_days: Annotated[int, Query(description="Days after `at`, 1 to 365.")] = 7,
) -> ScoreBeforeAfter:
    engine.visible_segment(conn, project, principal, segment_id)
    moment = score_trend_engine.parse_moment(at, project.zone, "at")
    found = score_trend_engine.before_after(
        conn, project, segment_id, moment, after_days, clock.now()
    )
    return ScoreBeforeAfter.model_validate(asdict(found))


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
    return _public(conn, project, principal, engine.get_segment(conn, project, row.id), total)


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
    account_segments.only_lead_segment(row, "explaining a lead's match")
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
