"""Campaigns: targeting, templates, schedules, runs and their recipients."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response

from segmint.api.deps import ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.campaigns import (
    Audience,
    AudienceIn,
    CampaignCreate,
    CampaignList,
    CampaignPublic,
    CampaignUpdate,
    CampaignWithSecret,
    RecipientPage,
    RecipientPublic,
    RenderedMessage,
    RenderIn,
    RunPage,
    RunPublic,
)
from segmint.campaigns import (
    audience,
    definitions,
    mail_settings,
    messages,
    runs,
    templates,
    triggers,
)
from segmint.campaigns.definitions import Resend, Targeting
from segmint.campaigns.tracking import Links
from segmint.errors import InvalidInput
from segmint.projects import Project
from segmint.store.tables import leads

router = APIRouter(prefix="/projects/{project}/campaigns", tags=["campaigns"])


def _public(
    row: Any,
    last_run: dict[str, Any] | None,
    catalog: audience.Catalog,
    settings: mail_settings.MailSettings,
    pending_sends: int = 0,
) -> dict[str, Any]:
    targeting = Targeting.of(row)
    found = audience.problems(catalog, targeting, row.channel, settings, row.webhook_url)
    found += audience.trigger_problems(catalog, row.trigger)
    return {
        **{name: getattr(row, name) for name in _PLAIN},
        "status": audience.status(row.state, found),
        "problems": [p.public() for p in found],
        "targeting": targeting.public(),
        "webhook_secret_hint": row.webhook_secret[:10] + "..." if row.webhook_url else None,
        "schedule": definitions.schedule_of(row).public(),
        "resend": Resend(row.resend, row.resend_after_days).public(),
        "trigger": _trigger(row.trigger, catalog),
        "pending_sends": pending_sends,
        "last_run": last_run,
    }


def _trigger(trigger: dict[str, Any] | None, catalog: audience.Catalog) -> dict[str, Any] | None:
    """The stored trigger and its segment's name (from the catalog the problems read: no query
    per campaign), so pages show the segment by name; null once the segment is deleted."""
    if not trigger:
        return None
    named = catalog.segments.get(trigger["segment_id"])
    return {**trigger, "segment_name": None if named is None else named[0]}


_PLAIN = (
    "id",
    "name",
    "description",
    "state",
    "channel",
    "subject",
    "body",
    "webhook_url",
    "next_run_at",
    "created_by",
    "created_by_email",
    "created_at",
    "updated_at",
)


def _one(conn: sa.Connection, project: Project, campaign_id: int) -> dict[str, Any]:
    row = definitions.get_campaign(conn, project, campaign_id)
    last = runs.last_runs(conn, project, [campaign_id]).get(campaign_id)
    catalog = audience.Catalog.load(conn, project)
    pending = triggers.pending_counts(conn, project, [campaign_id]).get(campaign_id, 0)
    return _public(row, last, catalog, mail_settings.load(conn, project), pending)


@router.get(
    "", response_model=CampaignList, summary="List campaigns with their status and last run"
)
def all_campaigns(conn: ConnectionDep, project: ProjectDep) -> CampaignList:
    rows = definitions.all_campaigns(conn, project)
    last = runs.last_runs(conn, project, [r.id for r in rows])
    settings = mail_settings.load(conn, project)
    catalog = audience.Catalog.load(conn, project)
    pending = triggers.pending_counts(conn, project, [r.id for r in rows])
    return CampaignList(
        items=[
            CampaignPublic.model_validate(
                _public(r, last.get(r.id), catalog, settings, pending.get(r.id, 0))
            )
            for r in rows
        ]
    )


@router.post("", response_model=CampaignWithSecret, status_code=201, summary="Create a campaign")
def create_campaign(
    body: CampaignCreate,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> CampaignWithSecret:
    campaign_id = definitions.create_campaign(
        conn,
        project,
        body.model_dump(exclude_unset=True),
        principal.user_id,
        clock.now(),
        reader=principal,
    )
    secret = definitions.get_campaign(conn, project, campaign_id).webhook_secret
    return CampaignWithSecret.model_validate(
        {**_one(conn, project, campaign_id), "webhook_secret": secret}
    )


@router.post(
    "/preview",
    response_model=Audience,
    summary="Audience of unsaved targeting: count, skips and a sample, live",
)
def preview(
    body: AudienceIn,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> Audience:
    targeting = definitions.check_targeting(conn, project, body.targeting.model_dump(), principal)
    # The audience's problems, and the mail settings' (a webhook URL is the editor's business).
    found = audience.targeting_problems(audience.Catalog.load(conn, project), targeting)
    if body.channel == "email":
        found += audience.delivery_problems("email", mail_settings.load(conn, project), None)
    if body.campaign_id is not None:
        definitions.get_campaign(conn, project, body.campaign_id)
    resend = definitions.check_resend(body.resend.model_dump() if body.resend else None)
    now = clock.now()
    result = audience.preview(conn, project, targeting, body.channel, body.campaign_id, resend, now)
    return Audience.model_validate({**result, "problems": [p.public() for p in found]})


@router.post(
    "/render", response_model=RenderedMessage, summary="Render a subject and body for a lead"
)
def render(
    body: RenderIn, request: Request, conn: ConnectionDep, project: ProjectDep
) -> RenderedMessage:
    subject = templates.check_subject(body.subject)
    text = templates.check_body(body.body)
    lead_id = body.lead_id if body.lead_id is not None else _newest_lead(conn, project)
    contexts = messages.lead_contexts(conn, project, [lead_id] if lead_id is not None else [])
    if body.lead_id is not None and body.lead_id not in contexts:
        raise InvalidInput(f"no lead {body.lead_id} in this project", "lead_id")
    context = contexts.get(lead_id or 0, {"lead": {}, "account": None})
    settings = mail_settings.load(conn, project)
    base = settings.public_url or str(request.base_url).rstrip("/")
    links = Links(base, project.id, 0, "preview")  # shaped like a recipient's, valid for none
    draft = messages.Draft(0, "Preview", subject, text)
    try:
        message = messages.render_for(draft, context, links)
    except templates.RenderError as exc:
        raise InvalidInput(str(exc), exc.path) from None
    return RenderedMessage(
        subject=message.subject, html=message.html, text=message.text, lead_id=lead_id
    )


def _newest_lead(conn: sa.Connection, project: Project) -> int | None:
    query = (
        sa.select(leads.c.id)
        .where(leads.c.project_id == project.id)
        .order_by(leads.c.created_at.desc(), leads.c.id.desc())
        .limit(1)
    )
    return conn.execute(query).scalar()


@router.get("/{campaign_id}", response_model=CampaignPublic, summary="Get a campaign")
def get_campaign(campaign_id: int, conn: ConnectionDep, project: ProjectDep) -> CampaignPublic:
    return CampaignPublic.model_validate(_one(conn, project, campaign_id))


@router.patch("/{campaign_id}", response_model=CampaignPublic, summary="Change a campaign")
def update_campaign(
    campaign_id: int,
    body: CampaignUpdate,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> CampaignPublic:
    data = body.model_dump(exclude_unset=True)
    definitions.update_campaign(conn, project, principal, campaign_id, data, clock.now())
    return CampaignPublic.model_validate(_one(conn, project, campaign_id))


@router.delete("/{campaign_id}", status_code=204, summary="Delete a campaign and its runs")
def delete_campaign(
    campaign_id: int, conn: ConnectionDep, project: ProjectDep, principal: PrincipalDep
) -> Response:
    definitions.delete_campaign(conn, project, principal, campaign_id)
    return Response(status_code=204)


@router.post(
    "/{campaign_id}/rotate-secret",
    response_model=CampaignWithSecret,
    summary="Replace the webhook channel's signing secret",
)
def rotate_secret(
    campaign_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> CampaignWithSecret:
    definitions.rotate_webhook_secret(conn, project, principal, campaign_id, clock.now())
    secret = definitions.get_campaign(conn, project, campaign_id).webhook_secret
    return CampaignWithSecret.model_validate(
        {**_one(conn, project, campaign_id), "webhook_secret": secret}
    )


@router.get(
    "/{campaign_id}/audience",
    response_model=Audience,
    summary="Who a run now would send to (after already-sent and unsubscribed leads)",
)
def campaign_audience(
    campaign_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> Audience:
    row = definitions.get_campaign(conn, project, campaign_id)
    definitions.check_audience_readable(conn, project, row, principal)
    targeting = Targeting.of(row)
    settings = mail_settings.load(conn, project)
    catalog = audience.Catalog.load(conn, project)
    found = audience.problems(catalog, targeting, row.channel, settings, row.webhook_url)
    resend = Resend(row.resend, row.resend_after_days)
    result = audience.preview(conn, project, targeting, row.channel, row.id, resend, clock.now())
    return Audience.model_validate({**result, "problems": [p.public() for p in found]})


@router.post(
    "/{campaign_id}/runs",
    response_model=RunPublic,
    status_code=201,
    summary="Run now: the worker freezes the audience and sends",
)
def run_now(
    campaign_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> RunPublic:
    definitions.editable_campaign(conn, project, principal, campaign_id)
    run_id = runs.create_run(conn, project, campaign_id, clock.now(), principal.user_id)
    return RunPublic.model_validate(runs.get_run(conn, project, campaign_id, run_id))


@router.get("/{campaign_id}/runs", response_model=RunPage, summary="Runs, newest first")
def list_runs(
    campaign_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    before: Annotated[int | None, Query(description="A run id from `next_before`.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RunPage:
    definitions.get_campaign(conn, project, campaign_id)
    items = runs.runs_of(conn, project, campaign_id, before, limit)
    return RunPage(
        items=[RunPublic.model_validate(item) for item in items],
        next_before=items[-1]["id"] if len(items) == limit else None,
    )


@router.get("/{campaign_id}/runs/{run_id}", response_model=RunPublic, summary="One run's summary")
def get_run(campaign_id: int, run_id: int, conn: ConnectionDep, project: ProjectDep) -> RunPublic:
    return RunPublic.model_validate(runs.get_run(conn, project, campaign_id, run_id))


@router.get(
    "/{campaign_id}/runs/{run_id}/recipients",
    response_model=RecipientPage,
    summary="A run's frozen recipient list with each recipient's state",
)
def recipients(
    campaign_id: int,
    run_id: int,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    state: Annotated[str | None, Query(description="Only recipients in this state.")] = None,
    after: Annotated[int | None, Query(description="A recipient id from `next_after`.")] = None,
    limit: Annotated[int, Query(ge=1, le=runs.MAX_PAGE)] = 50,
) -> RecipientPage:
    runs.get_run(conn, project, campaign_id, run_id)
    campaign = definitions.get_campaign(conn, project, campaign_id)
    definitions.check_audience_readable(conn, project, campaign, principal)
    if state is not None and state not in runs.RECIPIENT_STATES:
        raise InvalidInput(f"expected one of {', '.join(runs.RECIPIENT_STATES)}", "state")
    rows = runs.recipients_of(conn, project, run_id, state, after, limit)
    items = [
        RecipientPublic.model_validate(
            {
                **r._mapping,
                "name": " ".join(p for p in (r.first_name, r.last_name) if p),
            }
        )
        for r in rows
    ]
    return RecipientPage(items=items, next_after=rows[-1].id if len(rows) == limit else None)
