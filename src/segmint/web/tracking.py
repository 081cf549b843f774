"""The public end of campaign tracking: the open pixel, click redirects and unsubscribe pages.

No log-in: the signed link is the credential (campaigns/tracking.py). A forged link gets a 404
and records nothing. Unsubscribing takes a POST (the page's button, or a mail client's one-click
`List-Unsubscribe-Post`), so link scanners that prefetch a GET unsubscribe nobody.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from segmint.api.deps import ClockDep, ConnectionDep
from segmint.campaigns import mail_settings, tracking
from segmint.errors import NotFound
from segmint.projects import Project, get_project_by_id
from segmint.store.rows import RecipientWithCampaign
from segmint.web.templating import templates

router = APIRouter(prefix="/t/{project_id}/{recipient_id}/{sig}", include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store, private"}


def _recipient(
    conn: Any, project_id: int, recipient_id: int, sig: str
) -> tuple[Project, RecipientWithCampaign, str]:
    """The project, the recipient the link names and the secret it was signed with."""
    try:
        project = get_project_by_id(conn, project_id)
    except NotFound:  # the same answer as a forged link: no project ids are revealed
        raise NotFound("unknown link") from None
    secret = mail_settings.load(conn, project).tracking_secret
    if not secret:
        raise NotFound("unknown link")
    return project, tracking.recipient(conn, project, recipient_id, sig, secret), secret


@router.get("/open.gif")
def opened(
    project_id: int, recipient_id: int, sig: str, conn: ConnectionDep, clock: ClockDep
) -> Response:
    project, row, _ = _recipient(conn, project_id, recipient_id, sig)
    tracking.record_open(conn, project, row, clock.now())
    return Response(tracking.PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get("/click")
def clicked(
    project_id: int,
    recipient_id: int,
    sig: str,
    url: str,
    s: str,
    conn: ConnectionDep,
    clock: ClockDep,
) -> Response:
    project, row, secret = _recipient(conn, project_id, recipient_id, sig)
    if not tracking.safe_target(url) or not tracking.verify(
        secret, s, project.id, recipient_id, url
    ):
        raise NotFound("unknown link")
    tracking.record_click(conn, project, row, url, clock.now())
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


@router.get("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_page(
    request: Request, project_id: int, recipient_id: int, sig: str, conn: ConnectionDep
) -> Response:
    project, row, _ = _recipient(conn, project_id, recipient_id, sig)
    done = tracking.is_unsubscribed(conn, project, row.lead_id)
    context = {"email": row.email, "done": done}
    return templates.TemplateResponse(request, "unsubscribe.html", context, headers=NO_STORE)


@router.post("/unsubscribe", response_class=HTMLResponse)
def unsubscribe(
    request: Request,
    project_id: int,
    recipient_id: int,
    sig: str,
    conn: ConnectionDep,
    clock: ClockDep,
) -> Response:
    project, row, _ = _recipient(conn, project_id, recipient_id, sig)
    tracking.unsubscribe(conn, project, row, clock.now())
    context = {"email": row.email, "done": True}
    return templates.TemplateResponse(request, "unsubscribe.html", context, headers=NO_STORE)
