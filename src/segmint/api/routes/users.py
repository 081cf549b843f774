"""The organization's users (owners and admins manage them) and each caller's own API tokens.

These are organization-wide, not per project, so they live outside /projects/{project}. A user
reaches every project of the organization, so managing users needs a credential that does too:
a token limited to one project may not list or add users, whatever its user's role.
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response

from segmint import auth
from segmint.api.deps import AdminOnly, ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.users import (
    Assignee,
    AssigneeList,
    TokenCreate,
    TokenIssued,
    TokenList,
    TokenPublic,
    UserCreate,
    UserList,
    UserPublic,
    UserUpdate,
)
from segmint.engine import handover, owners
from segmint.errors import Forbidden, InvalidInput, NotFound
from segmint.model import Role
from segmint.projects import get_project
from segmint.store.tables import api_tokens, projects, users

router = APIRouter(tags=["users and tokens"])


def require_organization_wide(principal: PrincipalDep) -> None:
    if principal.project_id is not None:
        raise Forbidden(
            "this token is limited to one project, and users reach every project of the "
            "organization: manage users with a token not limited to a project, or log in"
        )


UserManager = [AdminOnly, Depends(require_organization_wide)]


def _user(row: sa.Row[object]) -> UserPublic:
    return UserPublic.model_validate(row, from_attributes=True)


@router.get("/users", response_model=UserList, dependencies=UserManager, summary="List users")
def list_users(
    conn: ConnectionDep,
    principal: PrincipalDep,
    include_removed: Annotated[
        bool, Query(description="Also the users removed, after the others (to restore one).")
    ] = False,
) -> UserList:
    query = sa.select(users).where(users.c.organization_id == principal.organization_id)
    if not include_removed:
        query = query.where(auth.ACTIVE)
    removed_last = users.c.removed_at.is_not(None)
    rows = conn.execute(query.order_by(removed_last, users.c.email))
    return UserList(items=[_user(r) for r in rows])


@router.get(
    "/projects/{project}/assignees",
    response_model=AssigneeList,
    summary="Users a lead can be assigned to",
)
def list_assignees(
    conn: ConnectionDep, project: ProjectDep, principal: PrincipalDep
) -> AssigneeList:
    """Any reader of the project may see them: it is whom they can assign leads to."""
    rows = owners.assignees(conn, project)
    items = [Assignee.model_validate(row, from_attributes=True) for row in rows]
    return AssigneeList(items=items, me=principal.email)


@router.post(
    "/users",
    response_model=UserPublic,
    status_code=201,
    dependencies=UserManager,
    summary="Add a user to the organization (owner or admin, not with a project token)",
)
def create_user(
    body: UserCreate, conn: ConnectionDep, principal: PrincipalDep, clock: ClockDep
) -> UserPublic:
    if body.role is Role.OWNER and principal.role is not Role.OWNER:
        raise Forbidden("only an owner may add another owner")
    user_id = auth.create_user(
        conn, principal.organization_id, body.email, body.role, body.password, clock
    )
    return _user(conn.execute(sa.select(users).where(users.c.id == user_id)).one())


@router.patch(
    "/users/{user_id}",
    response_model=UserPublic,
    dependencies=UserManager,
    summary="Change a user's role (owner or admin; only an owner makes or changes an owner)",
)
def change_user(
    user_id: int, body: UserUpdate, conn: ConnectionDep, principal: PrincipalDep
) -> UserPublic:
    auth.change_role(conn, principal, user_id, body.role)
    return _user(conn.execute(sa.select(users).where(users.c.id == user_id)).one())


@router.delete(
    "/users/{user_id}",
    status_code=204,
    dependencies=UserManager,
    summary="Remove a user: no more log-ins, tokens revoked, sessions ended (the last owner stays)",
)
def remove_user(
    user_id: int,
    conn: ConnectionDep,
    principal: PrincipalDep,
    clock: ClockDep,
    reassign_to: Annotated[
        str | None,
        Query(
            max_length=320,
            description="A teammate's email: the leads the user owns, in every project, are "
            "given to them by a bulk action per project (shown with its other bulk actions).",
        ),
    ] = None,
) -> Response:
    email = auth.remove_user(conn, principal, user_id, clock)
    if reassign_to is not None:
        organization_id = principal.organization_id
        to = handover.receiver(conn, organization_id, reassign_to, email, "reassign_to")
        handover.hand_over_leads(conn, principal, email, to, clock.now())
    return Response(status_code=204)


@router.get("/tokens", response_model=TokenList, summary="Your API tokens")
def list_tokens(conn: ConnectionDep, principal: PrincipalDep) -> TokenList:
    rows = conn.execute(
        sa.select(api_tokens, projects.c.slug)
        .join(projects, projects.c.id == api_tokens.c.project_id, isouter=True)
        .where(api_tokens.c.user_id == principal.user_id)
        .order_by(api_tokens.c.created_at.desc(), api_tokens.c.id.desc())
    )
    return TokenList(
        items=[
            TokenPublic(
                prefix=r.prefix,
                name=r.name,
                project=r.slug,
                created_at=r.created_at,
                last_used_at=r.last_used_at,
                revoked_at=r.revoked_at,
            )
            for r in rows
        ]
    )


@router.post("/tokens", response_model=TokenIssued, status_code=201, summary="Issue a token")
def issue_token(
    body: TokenCreate, conn: ConnectionDep, principal: PrincipalDep, clock: ClockDep
) -> TokenIssued:
    project_id = None
    if body.project is not None:
        project_id = get_project(conn, principal.organization_id, body.project).id
    if principal.project_id is not None and project_id != principal.project_id:
        raise Forbidden("a project token may only issue tokens for its own project")
    token = auth.issue_token(conn, principal.user_id, body.name, project_id, clock)
    return TokenIssued(token=token, prefix=token.split("_")[1])


@router.delete("/tokens/{prefix}", status_code=204, summary="Revoke one of your tokens")
def revoke_token(
    prefix: str, conn: ConnectionDep, principal: PrincipalDep, clock: ClockDep
) -> Response:
    if not prefix.isalnum():
        raise InvalidInput("not a token prefix", "prefix")
    owned = conn.execute(
        sa.select(api_tokens.c.id).where(
            api_tokens.c.prefix == prefix, api_tokens.c.user_id == principal.user_id
        )
    ).first()
    if owned is None or not auth.revoke_token(conn, prefix, clock):
        raise NotFound(f"no active token {prefix!r} of yours")
    return Response(status_code=204)
