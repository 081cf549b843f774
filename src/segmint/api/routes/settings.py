"""A project's settings: name, time zone, lead statuses (owners and admins change them)."""

from __future__ import annotations

from fastapi import APIRouter

from segmint.api.deps import AdminOnly, ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.settings import (
    MailSettingsPublic,
    MailSettingsUpdate,
    SettingsPublic,
    SettingsUpdate,
)
from segmint.campaigns import mail_settings
from segmint.engine import settings as engine

router = APIRouter(prefix="/projects/{project}/settings", tags=["settings"])


@router.get("", response_model=SettingsPublic, summary="The project's settings")
def get_settings(project: ProjectDep, _principal: PrincipalDep) -> SettingsPublic:
    return SettingsPublic.model_validate(engine.public_settings(project))


@router.patch(
    "",
    response_model=SettingsPublic,
    dependencies=[AdminOnly],
    summary="Change settings (owner or admin); a status in use cannot be removed",
)
def update_settings(
    body: SettingsUpdate, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> SettingsPublic:
    changed = engine.update_settings(conn, project, body.model_dump(exclude_none=True), clock)
    return SettingsPublic.model_validate(engine.public_settings(changed))


@router.get(
    "/mail",
    response_model=MailSettingsPublic,
    dependencies=[AdminOnly],
    summary="Outgoing mail: SMTP server, sender, rate and public URL (never the password)",
)
def get_mail_settings(conn: ConnectionDep, project: ProjectDep) -> MailSettingsPublic:
    return MailSettingsPublic.model_validate(mail_settings.load(conn, project).public())


@router.put(
    "/mail",
    response_model=MailSettingsPublic,
    dependencies=[AdminOnly],
    summary="Change outgoing mail settings (owner or admin)",
)
def update_mail_settings(
    body: MailSettingsUpdate, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> MailSettingsPublic:
    data = body.model_dump(exclude_unset=True)
    return MailSettingsPublic.model_validate(
        mail_settings.update(conn, project, data, clock.now()).public()
    )
