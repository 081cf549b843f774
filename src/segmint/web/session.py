"""Who is looking at a page: the session cookie, resolved per request; CSRF for the forms.

Pages never take a bearer token: a browser proves itself with the cookie set at log-in. Writes
made by the page's scripts go to the API with the session's CSRF token (api/deps.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import Depends, Request

from segmint import auth
from segmint.api.deps import ClockDep, EngineDep
from segmint.store.tables import projects, users


class LoginRequired(Exception):
    """Raised by page dependencies; the app answers with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path

    @property
    def location(self) -> str:
        return f"/login?next={quote(self.next_path, safe='/')}"


@dataclass(frozen=True)
class WebUser:
    principal: auth.Principal
    name: str
    csrf: str
    projects: list[tuple[str, str]]  # (slug, name) of the organization's projects


def current_user(request: Request, engine: EngineDep, clock: ClockDep) -> WebUser:
    token = request.cookies.get(auth.SESSION_COOKIE)
    if not token:
        raise LoginRequired(request.url.path)
    with engine.begin() as conn:
        principal = auth.authenticate_session(conn, token, clock)
        if principal is None:
            raise LoginRequired(request.url.path)
        name = conn.execute(sa.select(users.c.name).where(users.c.id == principal.user_id))
        owned = conn.execute(
            sa.select(projects.c.slug, projects.c.name)
            .where(projects.c.organization_id == principal.organization_id)
            .order_by(projects.c.id)
        )
        return WebUser(
            principal,
            name.scalar() or principal.email,
            auth.csrf_token(token),
            [(row.slug, row.name) for row in owned],
        )


UserDep = Annotated[WebUser, Depends(current_user)]


def safe_next(path: str | None) -> str:
    """Only a path on this site may follow a log-in (no open redirect to another host)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"
