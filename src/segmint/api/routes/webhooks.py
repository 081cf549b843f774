"""Webhooks: membership changes POSTed to a URL as they happen (owners and admins only)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response

from segmint.api.deps import AdminOnly, ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.webhooks import (
    WebhookAttemptPage,
    WebhookAttemptPublic,
    WebhookCreate,
    WebhookList,
    WebhookPublic,
    WebhookUpdate,
    WebhookWithSecret,
)
from segmint.engine import webhooks as engine
from segmint.projects import Project
from segmint.store.rows import WebhookRow

router = APIRouter(
    prefix="/projects/{project}/webhooks", tags=["webhooks"], dependencies=[AdminOnly]
)


def _public(row: WebhookRow, pending: int) -> dict[str, Any]:
    fields = {name: value for name, value in asdict(row).items() if name != "secret"}
    return {**fields, "secret_hint": row.secret[:10] + "...", "pending": pending}


def _one(conn: sa.Connection, project: Project, webhook_id: int) -> WebhookPublic:
    row = engine.get_webhook(conn, project, webhook_id)
    pending = engine.pending_counts(conn, project).get(webhook_id, 0)
    return WebhookPublic.model_validate(_public(row, pending))


def _with_secret(conn: sa.Connection, project: Project, webhook_id: int) -> WebhookWithSecret:
    row = engine.get_webhook(conn, project, webhook_id)
    return WebhookWithSecret.model_validate({**_public(row, 0), "secret": row.secret})


@router.get("", response_model=WebhookList, summary="List webhooks")
def all_webhooks(conn: ConnectionDep, project: ProjectDep) -> WebhookList:
    pending = engine.pending_counts(conn, project)
    return WebhookList(
        items=[
            WebhookPublic.model_validate(_public(row, pending.get(row.id, 0)))
            for row in engine.all_webhooks(conn, project)
        ]
    )


@router.post(
    "",
    response_model=WebhookWithSecret,
    status_code=201,
    summary="Subscribe a URL to segment.entered / segment.exited",
)
def create_webhook(
    body: WebhookCreate,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> WebhookWithSecret:
    webhook_id = engine.create_webhook(
        conn, project, body.model_dump(), principal.user_id, clock.now()
    )
    return _with_secret(conn, project, webhook_id)


@router.get("/{webhook_id}", response_model=WebhookPublic, summary="Get a webhook")
def get_webhook(webhook_id: int, conn: ConnectionDep, project: ProjectDep) -> WebhookPublic:
    return _one(conn, project, webhook_id)


@router.patch("/{webhook_id}", response_model=WebhookPublic, summary="Change a webhook")
def update_webhook(
    webhook_id: int, body: WebhookUpdate, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> WebhookPublic:
    engine.update_webhook(
        conn, project, webhook_id, body.model_dump(exclude_unset=True), clock.now()
    )
    return _one(conn, project, webhook_id)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecret,
    summary="Replace the signing secret (the old one stops working at once)",
)
def rotate_secret(
    webhook_id: int, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> WebhookWithSecret:
    engine.rotate_secret(conn, project, webhook_id, clock.now())
    return _with_secret(conn, project, webhook_id)


@router.delete(
    "/{webhook_id}", status_code=204, summary="Delete a webhook and its undelivered changes"
)
def delete_webhook(webhook_id: int, conn: ConnectionDep, project: ProjectDep) -> Response:
    engine.delete_webhook(conn, project, webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/attempts",
    response_model=WebhookAttemptPage,
    summary="The delivery log: one row per POST, newest first",
)
def attempts(
    webhook_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    before: Annotated[int | None, Query(description="An attempt id from `next_before`.")] = None,
    limit: Annotated[int, Query(ge=1, le=engine.MAX_ATTEMPTS_PAGE)] = 50,
) -> WebhookAttemptPage:
    rows = engine.attempts(conn, project, webhook_id, before, limit)
    return WebhookAttemptPage(
        items=[WebhookAttemptPublic.model_validate(dict(row._mapping)) for row in rows],
        next_before=rows[-1].id if len(rows) == limit else None,
    )
