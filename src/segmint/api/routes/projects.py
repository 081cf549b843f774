"""The organization's projects: listed by anyone in it; created, renamed and deleted by owners
and admins with a credential that reaches every project (not a token limited to one).

A project is deleted only when empty: what users made in it (leads, segments, ...) is never
dropped by this call, the 409 names what it still holds.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from segmint import projects as engine
from segmint.api.deps import AdminOnly, ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.projects import ProjectCreate, ProjectList, ProjectPublic, ProjectUpdate
from segmint.errors import Forbidden
from segmint.projects import Project

router = APIRouter(prefix="/projects", tags=["projects"])


def require_organization_wide(principal: PrincipalDep) -> None:
    if principal.project_id is not None:
        raise Forbidden(
            "this token is limited to one project: manage projects with a token not limited "
            "to a project, or log in"
        )


ProjectManager = [AdminOnly, Depends(require_organization_wide)]


def _public(project: Project) -> ProjectPublic:
    return ProjectPublic(slug=project.slug, name=project.name, timezone=project.timezone)


@router.get("", response_model=ProjectList, summary="The organization's projects")
def list_projects(conn: ConnectionDep, principal: PrincipalDep) -> ProjectList:
    found = engine.list_projects(conn, principal.organization_id)
    if principal.project_id is not None:  # a token limited to one project sees that one
        found = [p for p in found if p.id == principal.project_id]
    return ProjectList(items=[_public(p) for p in found])


@router.post(
    "",
    response_model=ProjectPublic,
    status_code=201,
    dependencies=ProjectManager,
    summary="Create an empty project (owner or admin); 409 when the slug is taken",
)
def create_project(
    body: ProjectCreate, conn: ConnectionDep, principal: PrincipalDep, clock: ClockDep
) -> ProjectPublic:
    created = engine.create_project(
        conn, principal.organization_id, body.slug, body.name, body.timezone, clock=clock
    )
    return _public(created)


@router.patch(
    "/{project}",
    response_model=ProjectPublic,
    dependencies=ProjectManager,
    summary="Rename a project: its name and/or slug (owner or admin)",
)
def rename_project(body: ProjectUpdate, conn: ConnectionDep, project: ProjectDep) -> ProjectPublic:
    return _public(engine.rename_project(conn, project, body.name, body.slug))


@router.delete(
    "/{project}",
    status_code=204,
    dependencies=ProjectManager,
    summary="Delete an empty project (owner or admin); 409 naming what it still holds",
)
def delete_project(conn: ConnectionDep, project: ProjectDep) -> Response:
    engine.delete_project(conn, project)
    return Response(status_code=204)
