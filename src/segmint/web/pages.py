"""Page routes: each renders a shell with what the page's script needs to start (project,
CSRF token, ids); the script loads and writes everything through the REST API, so the UI can
do nothing the API does not allow."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

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


def _page(
    request: Request, user: UserDep, project: str, template: str, section: str, **data: Any
) -> Response:
    slugs = dict(user.projects)
    if project not in slugs:  # another organization's, or none: the same answer
        message = f"There is no project {project!r} in your organization."
        return templates.TemplateResponse(
            request, "not_found.html", {"message": message}, status_code=404
        )
    boot = {"project": project, "csrf": user.csrf, "role": user.principal.role.value, **data}
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
    return _page(request, user, project, "segment_form.html", "segments", segment_id=segment_id)


@router.get("/p/{project}/segments/{segment_id}", response_class=HTMLResponse)
def segment_page(request: Request, user: UserDep, project: str, segment_id: int) -> Response:
    return _page(request, user, project, "segment.html", "segments", segment_id=segment_id)


@router.get("/p/{project}/leads", response_class=HTMLResponse)
def leads_page(request: Request, user: UserDep, project: str) -> Response:
    return _page(request, user, project, "leads.html", "leads")


@router.get("/p/{project}/leads/{lead_id}", response_class=HTMLResponse)
def lead_page(request: Request, user: UserDep, project: str, lead_id: int) -> Response:
    return _page(request, user, project, "lead.html", "leads", lead_id=lead_id)


@router.get("/p/{project}/lists", response_class=HTMLResponse)
def lists_page(request: Request, user: UserDep, project: str) -> Response:
    return _page(request, user, project, "lists.html", "lists")


@router.get("/p/{project}/lists/{list_id}", response_class=HTMLResponse)
def list_page(request: Request, user: UserDep, project: str, list_id: int) -> Response:
    return _page(request, user, project, "list.html", "lists", list_id=list_id)


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
    return _page(request, user, project, "campaign_form.html", "campaigns", campaign_id=campaign_id)


@router.get("/p/{project}/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, user: UserDep, project: str, campaign_id: int) -> Response:
    return _page(request, user, project, "campaign.html", "campaigns", campaign_id=campaign_id)


@router.get("/p/{project}/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: UserDep, project: str) -> Response:
    return _page(request, user, project, "settings.html", "settings")
