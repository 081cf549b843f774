"""Accounts: the companies leads belong to."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from segmint.api.deps import ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.accounts import AccountCreate, AccountPage, AccountPublic, AccountUpdate
from segmint.engine import accounts as engine
from segmint.engine.leads import check_page
from segmint.engine.paging import MAX_PER_PAGE, Sort, page_select
from segmint.errors import InvalidInput
from segmint.store.tables import accounts

router = APIRouter(prefix="/projects/{project}/accounts", tags=["accounts"])


def _public(row: Any) -> AccountPublic:
    return AccountPublic.model_validate(row, from_attributes=True)


@router.get("", response_model=AccountPage, summary="List accounts by name")
def list_accounts(
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50,
) -> AccountPage:
    check_page(page, per_page)
    scope = accounts.c.project_id == project.id
    total = conn.execute(sa.select(sa.func.count()).select_from(accounts).where(scope)).scalar()
    query = page_select(
        conn,
        sa.select(accounts).where(scope),
        Sort(accounts.c.name, nullable=False),
        accounts.c.id,
        page,
        per_page,
    )
    items = [_public(r) for r in conn.execute(query)] if query is not None else []
    return AccountPage(items=items, total=int(total or 0), page=page, per_page=per_page)


@router.post("", response_model=AccountPublic, status_code=201, summary="Create an account")
def create_account(
    body: AccountCreate,
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    clock: ClockDep,
) -> AccountPublic:
    return _public(engine.create_account(conn, project, body.model_dump(), clock))


@router.get("/{account_id}", response_model=AccountPublic, summary="Get an account")
def get_account(
    account_id: int, conn: ConnectionDep, project: ProjectDep, _principal: PrincipalDep
) -> AccountPublic:
    return _public(engine.get_account(conn, project, account_id))


@router.patch("/{account_id}", response_model=AccountPublic, summary="Update an account")
def update_account(
    account_id: int,
    body: AccountUpdate,
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    clock: ClockDep,
) -> AccountPublic:
    fields = body.model_dump(exclude_unset=True)
    for required in ("name", "metadata"):
        if required in fields and fields[required] is None:
            raise InvalidInput("cannot be null", required)
    return _public(engine.update_account(conn, project, account_id, fields, clock))
