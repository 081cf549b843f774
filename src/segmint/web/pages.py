"""Page routes: each renders a shell with what the page's script needs to start (project,
CSRF token, ids); the script loads and writes everything through the REST API, so the UI can
do nothing the API does not allow."""

from __future__ import annotations

import json
from typing import Any, Final

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from segmint.store.tables import campaigns, leads, lists, projects, segments
from segmint.web.session import UserDep
from segmint.web.templating import templates

router = APIRouter(include_in_schema=False)

NAVIGATION = (
    ("leads", "Leads"),
    ("segments", "Segments"),
    ("lists", "Lists"),
    ("scoring", "Scoring"),
    ("campaigns", "Campaigns"),
    ("settings", "Settings"),
)


# The objects a page shows, by the name the page gives them: the page of one that does not exist
# (or is another project's) is a real not-found page, not a shell whose script says so.
SHOWN: Final[dict[str, sa.Table]] = {
    "segment": segments,
    "lead": leads,
    "list": lists,
    "campaign": campaigns,
}
LARGEST_ID: Final = 2**63 - 1  # a path id past a bigint names nothing


def not_found(
    request: Request, message: str, back: tuple[str, str] = ("/", "Back to your segments")
) -> Response:
    """The not-found page (404): what is missing, and a way back."""
    href, label = back
    context = {"message": message, "back_href": href, "back_label": label}
    return templates.TemplateResponse(request, "not_found.html", context, status_code=404)


def _exists(request: Request, user: UserDep, project: str, kind: str, object_id: int) -> bool:
    """Whether the project (of the user's organization) holds that object."""
    if not 0 < object_id <= LARGEST_ID:
        return False
    table = SHOWN[kind]
    query = (
        sa.select(table.c.id)
        .join(projects, projects.c.id == table.c.project_id)
        .where(
            projects.c.slug == project,
            projects.c.organization_id == user.principal.organization_id,
            table.c.id == object_id,
        )
    )
    with request.app.state.engine.connect() as conn:
        return conn.execute(query).first() is not None


def _page(
    request: Request,
    user: UserDep,
    project: str,
    template: str,
    section: str,
    shown: tuple[str, int] | None = None,
    **data: Any,
) -> Response:
    """A page's shell; `shown`: the (kind, id) of the object it shows, which must exist."""
    slugs = dict(user.projects)
    if project not in slugs:  # another organization's, or none: the same answer
        return not_found(request, f"There is no project {project!r} in your organization.")
    if shown is not None and not _exists(request, user, project, *shown):
        kind, object_id = shown
        back = (f"/p/{project}/{section}", f"Back to {section}")
        return not_found(request, f"There is no {kind} {object_id} in this project.", back)
    principal = user.principal
    boot = {
        "project": project,
        "csrf": user.csrf,
        "role": principal.role.value,
        "user_id": principal.user_id,
        **data,
    }
    context = {
        "user": user,
        "project": project,
        "project_name": slugs[project],
        "navigation": NAVIGATION,
        "section": section,
        "boot": json.dumps(boot),
        **data,
    }
    return templates.TemplateResponse(request, template, context)


@router.get("/", response_class=HTMLResponse)
def home(user: UserDep) -> Response:
    if not user.projects:
        return HTMLResponse("Your organization has no project yet: run `segmint init`.")
    return RedirectResponse(f"/p/{user.projects[0][0]}/segments", status_code=303)


@router.get("/p/{project}/segments", response_class=HTMLResponse)
def segments_page(request: Request, user: UserDep, project: str) -> Response:
    return _page(request, user, project, "segments.html", "segments")


@router.get("/p/{project}/segments/new", response_class=HTMLResponse)
def new_segment_page(request: Request, user: UserDep, project: str) -> Response:
    return _page(request, user, project, "segment_form.html", "segments", segment_id=None)


@router.get("/p/{project}/segments/{segment_id}/edit", response_class=HTMLResponse)
def edit_segment_page(request: Request, user: UserDep, project: str, segment_id: int) -> Response:
    return _page(
        request,
        user,
        project,
        "segment_form.html",
        "segments",
        ("segment", segment_id),
        segment_id=segment_id,
    )


@router.get("/p/{project}/segments/{segment_id}", response_class=HTMLResponse)
def segment_page(request: Request, user: UserDep, project: str, segment_id: int) -> Response:
    return _page(
        request,
        user,
        project,
        "segment.html",
        "segments",
        ("segment", segment_id),
        segment_id=segment_id,
    )


@router.get("/p/{project}/overlap", response_class=HTMLResponse)
def overlap_page(request: Request, user: UserDep, project: str) -> Response:
    """Two to four segments and lists compared; `?segments=1,2&lists=3` chooses them."""
    return _page(request, user, project, "overlap.html", "segments")


@router.get("/p/{project}/leads", response_class=HTMLResponse)
def leads_page(request: Request, user: UserDep, project: str) -> Response:
    return _page(request, user, project, "leads.html", "leads")


@router.get("/p/{project}/leads/{lead_id}", response_class=HTMLResponse)
def lead_page(request: Request, user: UserDep, project: str, lead_id: int) -> Response:
    return _page(request, user, project, "lead.html", "leads", ("lead", lead_id), lead_id=lead_id)


@router.get("/p/{project}/lists", response_class=HTMLResponse)
def lists_page(request: Request, user: UserDep, project: str) -> Response:
    return _page(request, user, project, "lists.html", "lists")


@router.get("/p/{project}/lists/{list_id}", response_class=HTMLResponse)
def list_page(request: Request, user: UserDep, project: str, list_id: int) -> Response:
    return _page(request, user, project, "list.html", "lists", ("list", list_id), list_id=list_id)


@router.get("/p/{project}/import", response_class=HTMLResponse)
def import_page(request: Request, user: UserDep, project: str) -> Response:
    return _page(request, user, project, "import.html", "leads")


@router.get("/p/{project}/scoring", response_class=HTMLResponse)
def scoring_page(request: Request, user: UserDep, project: str) -> Response:
    return _page(request, user, project, "scoring.html", "scoring")


@router.get("/p/{project}/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, user: UserDep, project: str) -> Response:
    return _page(request, user, project, "campaigns.html", "campaigns")


@router.get("/p/{project}/campaigns/new", response_class=HTMLResponse)
def new_campaign_page(request: Request, user: UserDep, project: str) -> Response:
    return _page(request, user, project, "campaign_form.html", "campaigns", campaign_id=None)


@router.get("/p/{project}/campaigns/{campaign_id}/edit", response_class=HTMLResponse)
def edit_campaign_page(request: Request, user: UserDep, project: str, campaign_id: int) -> Response:
    return _page(
        request,
        user,
        project,
        "campaign_form.html",
        "campaigns",
        ("campaign", campaign_id),
        campaign_id=campaign_id,
    )


@router.get("/p/{project}/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, user: UserDep, project: str, campaign_id: int) -> Response:
    return _page(
        request,
        user,
        project,
        "campaign.html",
        "campaigns",
        ("campaign", campaign_id),
        campaign_id=campaign_id,
    )


@router.get("/p/{project}/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: UserDep, project: str) -> Response:
    return _page(request, user, project, "settings.html", "settings")
