"""Bulk actions: one action over a selection of leads, asked for here, done by the worker."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from segmint.api.deps import ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.bulk_actions import BulkActionCreate, BulkActionPage, BulkActionPublic
from segmint.engine import bulk as engine
from segmint.store.rows import BulkActionRow

router = APIRouter(prefix="/projects/{project}/bulk-actions", tags=["bulk actions"])


def _public(row: BulkActionRow) -> BulkActionPublic:
    return BulkActionPublic.model_validate({**asdict(row), "progress": engine.progress(row)})


@router.post(
    "",
    response_model=BulkActionPublic,
    status_code=202,
    summary="Start an action over many leads (it runs in the background)",
)
def start_bulk_action(
    body: BulkActionCreate,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> BulkActionPublic:
    data = body.model_dump()
    data["selection"] = body.selection.model_dump(exclude_unset=True)
    return _public(engine.start(conn, project, principal, data, clock.now()))


@router.get("", response_model=BulkActionPage, summary="Bulk actions, newest first")
def list_bulk_actions(
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    before: Annotated[int | None, Query(ge=1, description="Only actions older than this id.")] = (
        None
    ),
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> BulkActionPage:
    rows = engine.recent(conn, project, before, limit)
    next_before = rows[-1].id if len(rows) == limit else None
    return BulkActionPage(items=[_public(row) for row in rows], next_before=next_before)


@router.get("/{bulk_action_id}", response_model=BulkActionPublic, summary="A bulk action")
def get_bulk_action(
    bulk_action_id: int, conn: ConnectionDep, project: ProjectDep, _principal: PrincipalDep
) -> BulkActionPublic:
    return _public(engine.get(conn, project, bulk_action_id))


@router.post(
    "/{bulk_action_id}/cancel",
    response_model=BulkActionPublic,
    summary="Stop a bulk action before its next batch",
)
def cancel_bulk_action(
    bulk_action_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> BulkActionPublic:
    engine.cancel(conn, project, principal, bulk_action_id, clock.now())
    return _public(engine.get(conn, project, bulk_action_id))
