"""Static lists: frozen memberships."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from segmint.api.deps import ClockDep, ConnectionDep, EngineDep, PrincipalDep, ProjectDep
from segmint.api.routes.exports import ColumnsQuery, csv_download
from segmint.api.schemas.common import UsagePublic
from segmint.api.schemas.leads import LeadPage, LeadPublic
from segmint.api.schemas.lists import (
    LeadIdsIn,
    ListCreate,
    ListList,
    ListPublic,
    ListUpdate,
    MembershipChange,
)
from segmint.engine import answering, filtering
from segmint.engine import leads as leads_engine
from segmint.engine import lists as engine
from segmint.engine import usage as usage_engine
from segmint.engine.answering import ENGINE_HEADER
from segmint.engine.export import chosen_columns, export_audience, export_filename
from segmint.engine.paging import MAX_PER_PAGE
from segmint.errors import InvalidInput
from segmint.index import Audience
from segmint.projects import Project

router = APIRouter(prefix="/projects/{project}/lists", tags=["lists"])


def list_public(conn: sa.Connection, project: Project, list_id: int) -> ListPublic:
    row = engine.get_list(conn, project, list_id)
    return ListPublic.model_validate(
        {**asdict(row), "member_count": engine.member_count(conn, project, list_id)}
    )


@router.get("", response_model=ListList, summary="List static lists")
def all_lists(conn: ConnectionDep, project: ProjectDep, _principal: PrincipalDep) -> ListList:
    counts = engine.member_counts(conn, project)
    return ListList(
        items=[
            ListPublic.model_validate({**asdict(row), "member_count": counts.get(row.id, 0)})
            for row in engine.all_lists(conn, project)
        ]
    )


@router.post("", response_model=ListPublic, status_code=201, summary="Create a list")
def create_list(
    body: ListCreate,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> ListPublic:
    stored_filter = None
    if body.filter is not None:
        tree = filtering.validate(conn, project, body.filter, reader=principal)
        stored_filter = filtering.to_json(tree)
    list_id = engine.create_list(
        conn,
        project,
        {
            "name": body.name.strip(),
            "description": body.description.strip(),
            "filter": stored_filter,
        },
        principal.user_id,
        clock,
    )
    if body.lead_ids:
        engine.add_members(conn, project, list_id, body.lead_ids, clock)
    return list_public(conn, project, list_id)


@router.get("/{list_id}", response_model=ListPublic, summary="Get a list")
def get_list(
    list_id: int, conn: ConnectionDep, project: ProjectDep, _principal: PrincipalDep
) -> ListPublic:
    return list_public(conn, project, list_id)


@router.patch("/{list_id}", response_model=ListPublic, summary="Rename, describe, set the filter")
def update_list(
    list_id: int,
    body: ListUpdate,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> ListPublic:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("filter") is not None:
        tree = filtering.validate(conn, project, changes["filter"], reader=principal)
        changes["filter"] = filtering.to_json(tree)
    engine.update_list(conn, project, list_id, changes, clock)
    return list_public(conn, project, list_id)


@router.delete("/{list_id}", status_code=204, summary="Delete a list (never its leads)")
def delete_list(
    list_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    clock: ClockDep,
    force: Annotated[bool, Query(description="Delete even if something uses it.")] = False,
) -> Response:
    engine.delete_list(conn, project, list_id, force, clock)
    return Response(status_code=204)


@router.get(
    "/{list_id}/usage",
    response_model=UsagePublic,
    summary="What uses the list (segments, campaigns, lists)",
)
def usage(
    list_id: int, conn: ConnectionDep, project: ProjectDep, _principal: PrincipalDep
) -> UsagePublic:
    engine.get_list(conn, project, list_id)
    return UsagePublic.of(usage_engine.list_usage(conn, project, list_id))


@router.get("/{list_id}/members", response_model=LeadPage, summary="Members of a list")
def members(
    list_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    clock: ClockDep,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50,
    sort: Annotated[str, Query()] = "-created_at",
    q: Annotated[str | None, Query()] = None,
    *,
    response: Response,
) -> LeadPage:
    engine.get_list(conn, project, list_id)
    audience = answering.list_audience(project, list_id, q)
    order = leads_engine.parse_sort(sort)
    result = leads_engine.audience_page(conn, project, audience, order, page, per_page, clock.now())
    response.headers[ENGINE_HEADER] = result.engine
    return LeadPage(
        items=[LeadPublic.model_validate(i) for i in result.items],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
    )


@router.post("/{list_id}/members", response_model=MembershipChange, summary="Add leads")
def add_members(
    list_id: int,
    body: LeadIdsIn,
    conn: ConnectionDep,
    project: ProjectDep,
    _p: PrincipalDep,
    clock: ClockDep,
) -> MembershipChange:
    added = engine.add_members(conn, project, list_id, body.lead_ids, clock)
    return MembershipChange(changed=added, member_count=engine.member_count(conn, project, list_id))


@router.delete("/{list_id}/members", response_model=MembershipChange, summary="Remove leads")
def remove_members(
    list_id: int,
    body: LeadIdsIn,
    conn: ConnectionDep,
    project: ProjectDep,
    _p: PrincipalDep,
    clock: ClockDep,
) -> MembershipChange:
    removed = engine.remove_members(conn, project, list_id, body.lead_ids, clock)
    return MembershipChange(
        changed=removed, member_count=engine.member_count(conn, project, list_id)
    )


@router.post("/{list_id}/refresh", response_model=ListPublic, summary="Re-apply the stored filter")
def refresh(
    list_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> ListPublic:
    row = engine.get_list(conn, project, list_id)
    if row.filter is None:
        raise InvalidInput("this list has no filter to refresh from", "filter")
    filtering.check_stored_readable(conn, project, principal, row.filter)
    tree = filtering.load(project, row.filter)
    where = filtering.condition(conn, project, tree, clock.now())
    engine.replace_members(conn, project, list_id, where, clock, Audience((tree,)))
    return list_public(conn, project, list_id)


@router.get(
    "/{list_id}/export.csv",
    response_class=StreamingResponse,
    summary="Export the members as CSV (streamed)",
    responses={200: {"content": {"text/csv": {}}}},
)
def export(
    list_id: int,
    conn: ConnectionDep,
    db: EngineDep,
    project: ProjectDep,
    _p: PrincipalDep,
    clock: ClockDep,
    columns: ColumnsQuery = None,
) -> StreamingResponse:
    row = engine.get_list(conn, project, list_id)
    chosen = chosen_columns(columns)  # refused before the first byte: a stream has its status
    audience = answering.list_audience(project, list_id)
    chunks, answered_by = export_audience(conn, db, project, audience, clock.now(), chosen)
    return csv_download(chunks, export_filename(row.name), answered_by)
