"""Dependencies shared by the routers: the database, the caller, the project."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Path, Request
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.clock import Clock
from segmint.errors import Forbidden, NotFound, Unauthorized
from segmint.model import Role
from segmint.projects import Project, get_project
from segmint.store.timeouts import limit_statements, release_statements


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_clock(request: Request) -> Clock:
    """The app's clock (the system's unless create_app was given another), so tests move time."""
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]


def get_connection(request: Request, engine: EngineDep) -> Iterator[sa.Connection]:
    """The request's one connection: authentication and the route use it alike, so a request
    never holds two of the pool's connections (or waits for a second while holding one).
    Its work is committed on success and rolled back on any error; its statements are
    cancelled past the statement timeout (api/limits.py)."""
    with engine.connect() as conn:
        limit_statements(conn, request.app.state.limits.statement_timeout)
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            release_statements(conn)


# scope="function": commit before the response is sent. By default a yield dependency exits
# after it, and a client's next request (the page reloading after a save) could read the
# database before the write it was just told about had committed.
ConnectionDep = Annotated[sa.Connection, Depends(get_connection, scope="function")]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_principal(request: Request, conn: ConnectionDep, clock: ClockDep) -> auth.Principal:
    """The caller: a bearer token, else the web UI's session cookie. A cookie is sent by the
    browser on its own, so a cookie-authenticated write must also carry the session's CSRF
    token in `X-CSRF-Token`, which another site's page cannot read."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    session = request.cookies.get(auth.SESSION_COOKIE)
    if scheme.lower() == "bearer" and token.strip():
        principal = _authenticated(conn, auth.authenticate_token, token.strip(), clock)
        if principal is None:
            raise Unauthorized("invalid or revoked token")
        return principal
    if not session:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer TOKEN'")
    principal = _authenticated(conn, auth.authenticate_session, session, clock)
    if principal is None:
        raise Unauthorized("your session has ended: log in again")
    if request.method not in SAFE_METHODS and not auth.csrf_matches(
        session, request.headers.get("x-csrf-token")
    ):
        raise Forbidden("missing or wrong X-CSRF-Token for this session")
    return principal


def _authenticated(
    conn: sa.Connection,
    authenticate: Callable[[sa.Connection, str, Clock], auth.Principal | None],
    secret: str,
    clock: Clock,
) -> auth.Principal | None:
    """Authenticate on the request's connection, committing at once: the token's last use
    (or the session's last sight), when due, is written then, so the request's own transaction
    never holds that row's lock, which every concurrent request with the same token would queue
    on. It is due at most once a minute (five for a session), so most reads write nothing."""
    principal = authenticate(conn, secret, clock)
    conn.commit()
    return principal


PrincipalDep = Annotated[auth.Principal, Depends(get_principal)]


def get_current_project(
    conn: ConnectionDep,
    principal: PrincipalDep,
    project: Annotated[str, Path(description="The project's slug.", examples=["default"])],
) -> Project:
    """The project named in the path, if it belongs to the caller's organization (else 404)."""
    found = get_project(conn, principal.organization_id, project)
    if principal.project_id is not None and principal.project_id != found.id:
        raise NotFound(f"no project {project!r}")
    return found


ProjectDep = Annotated[Project, Depends(get_current_project)]


def require_role(principal: auth.Principal, *roles: Role) -> None:
    if principal.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise Forbidden(f"this needs the {allowed} role; you are {principal.role.value}")


def require_admin(principal: PrincipalDep) -> None:
    require_role(principal, Role.OWNER, Role.ADMIN)


AdminOnly = Depends(require_admin)
