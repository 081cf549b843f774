"""A project's settings: name, time zone, lead statuses (owners and admins change them)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from segmint.api.campaign_schemas import MailSettingsIn, MailSettingsOut
from segmint.api.deps import AdminOnly, ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas import Strict
from segmint.campaigns import mail_settings
from segmint.engine import settings as engine

router = APIRouter(prefix="/projects/{project}/settings", tags=["settings"])


class ProjectSettings(BaseModel):
    name: str
    slug: str
    timezone: str = Field(examples=["Europe/Paris"])
    statuses: list[str] = Field(examples=[["new", "contacted", "qualified", "unqualified"]])
    converted_status: str = Field(examples=["qualified"])


class SettingsUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=255)
    timezone: str | None = Field(None, max_length=64)
    statuses: list[str] | None = None
    converted_status: str | None = None


@router.get("", response_model=ProjectSettings, summary="The project's settings")
def get_settings(project: ProjectDep, _principal: PrincipalDep) -> ProjectSettings:
    return ProjectSettings.model_validate(engine.public_settings(project))


@router.patch(
    "",
    response_model=ProjectSettings,
    dependencies=[AdminOnly],
    summary="Change settings (owner or admin); a status in use cannot be removed",
)
def update_settings(
    body: SettingsUpdate, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> ProjectSettings:
    changed = engine.update_settings(conn, project, body.model_dump(exclude_none=True), clock)
    return ProjectSettings.model_validate(engine.public_settings(changed))


@router.get(
    "/mail",
    response_model=MailSettingsOut,
    dependencies=[AdminOnly],
    summary="Outgoing mail: SMTP server, sender, rate and public URL (never the password)",
)
def get_mail_settings(conn: ConnectionDep, project: ProjectDep) -> MailSettingsOut:
    return MailSettingsOut.model_validate(mail_settings.load(conn, project).public())


@router.put(
    "/mail",
    response_model=MailSettingsOut,
    dependencies=[AdminOnly],
    summary="Change outgoing mail settings (owner or admin)",
)
def update_mail_settings(
    body: MailSettingsIn, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> MailSettingsOut:
    data = body.model_dump(exclude_unset=True)
    return MailSettingsOut.model_validate(
        mail_settings.update(conn, project, data, clock.now()).public()
    )
