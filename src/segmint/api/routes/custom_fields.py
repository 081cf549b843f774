"""Custom field definitions: the keys leads may carry under `custom`."""

from __future__ import annotations

from fastapi import APIRouter

from segmint.api.deps import AdminOnly, ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.custom_fields import CustomFieldCreate, CustomFieldList, CustomFieldPublic
from segmint.projects import CustomField, add_custom_field

router = APIRouter(prefix="/projects/{project}/custom-fields", tags=["custom fields"])


def _public(field: CustomField) -> CustomFieldPublic:
    return CustomFieldPublic(
        key=field.key, label=field.label, type=field.type, options=list(field.options)
    )


@router.get("", response_model=CustomFieldList, summary="List custom fields")
def list_custom_fields(project: ProjectDep, _principal: PrincipalDep) -> CustomFieldList:
    return CustomFieldList(items=[_public(f) for f in project.custom_fields.values()])


@router.post(
    "",
    response_model=CustomFieldPublic,
    status_code=201,
    dependencies=[AdminOnly],
    summary="Declare a custom field (owner or admin)",
)
def create_custom_field(
    body: CustomFieldCreate, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> CustomFieldPublic:
    field = add_custom_field(conn, project.id, body.key, body.label, body.type, body.options, clock)
    return _public(field)
