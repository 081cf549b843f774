"""Log-in and log-out.

The log-in form has no session yet, so its CSRF token is a double-submit cookie: a random value
set with the form and required back in a hidden field (another site can post the form but cannot
read or set our cookie). Each log-in starts a new session; log-out deletes it.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from segmint import auth
from segmint.api.deps import ClockDep, EngineDep
from segmint.web.session import safe_next
from segmint.web.templating import templates

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "segmint_login_csrf"


def _cookie_flags(request: Request) -> dict[str, bool | str]:
    return {"httponly": True, "samesite": "lax", "secure": request.url.scheme == "https"}


def _login_form(request: Request, next_path: str, error: str | None, status: int) -> Response:
    token = secrets.token_urlsafe(24)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"csrf": token, "next": next_path, "error": error},
        status_code=status,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **_cookie_flags(request))  # type: ignore[arg-type]
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    return _login_form(request, safe_next(next), None, 200)


@router.post("/login")
def log_in(
    request: Request,
    engine: EngineDep,
    clock: ClockDep,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf):
        return _login_form(request, safe_next(next), "The form expired: please try again.", 403)
    with engine.begin() as conn:
        principal = auth.authenticate_password(conn, email, password)
        if principal is None:
            return _login_form(request, safe_next(next), "Invalid email or password.", 401)
        token = auth.start_session(conn, principal.user_id, clock)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    response.set_cookie(
        auth.SESSION_COOKIE,
        token,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        **_cookie_flags(request),  # type: ignore[arg-type]
    )
    return response


@router.post("/logout")
def log_out(request: Request, engine: EngineDep, csrf: Annotated[str, Form()] = "") -> Response:
    token = request.cookies.get(auth.SESSION_COOKIE)
    if token and auth.csrf_matches(token, csrf):
        with engine.begin() as conn:
            auth.end_session(conn, token)
    elif token:
        return Response("Log-out needs the page's CSRF token.", status_code=403)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response
