"""What every CLI command shares: option types and turning engine errors into messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from sqlalchemy.engine import Engine

from segmint import auth, bootstrap
from segmint.errors import InvalidInput, SegmintError
from segmint.model import Role
from segmint.passwords import check_password
from segmint.projects import Project
from segmint.store.db import create_engine, database_url_from_env
from segmint.store.tables import users

err = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL [env: SEGMINT_DATABASE_URL]"),
]
ProjectSlug = Annotated[str, typer.Option("--project", help="Project slug.")]
UserEmail = Annotated[
    str | None, typer.Option("--user", help="Act as this user (default: the first owner).")
]


def one_shot_engine(url: str | None) -> Engine:
    """For commands that run and exit: each connection closes when done (no pool left open)."""
    return create_engine(url or database_url_from_env(), poolclass=sa.NullPool)


def context(
    url: str | None, slug: str, user_email: str | None
) -> tuple[Engine, Project, auth.Principal]:
    """The database, the project and the user a command acts as (`--user`, default the
    organization's first owner): what it writes has an author, as through the API."""
    db = one_shot_engine(url)
    with db.connect() as conn:
        project = bootstrap.cli_project(conn, slug)
        principal = acting_user(conn, project.organization_id, user_email)
    return db, project, principal


def acting_user(conn: sa.Connection, organization_id: int, email: str | None) -> auth.Principal:
    """The user a command acts as: `email`, or the organization's first owner."""
    query = sa.select(users).where(users.c.organization_id == organization_id, auth.ACTIVE)
    if email:
        query = query.where(users.c.email == email.strip().lower())
    else:
        query = query.where(users.c.id == auth.first_owner(conn, organization_id))
    row = conn.execute(query.limit(1)).first()
    if row is None:
        who = email or "an owner"
        raise InvalidInput(f"no user {who} (create one with `segmint init --owner-email`)")
    return auth.Principal(row.id, organization_id, row.email, Role(row.role), None)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Engine errors become one clear line and exit status 1, not a traceback."""
    try:
        yield
    except SegmintError as exc:
        # The message may quote user input ("[vip]"): printed as text, never as Rich markup.
        err.print("error: ", style="red", end="", highlight=False)
        err.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def usable_password(password: str | None, email: str | None, option: str) -> None:
    """A weak password given as an option is a usage error (exit 2), before anything is written."""
    if password is None:
        return
    try:
        check_password(password, email)
    except InvalidInput as exc:
        err.print(f"error: {option}: {exc.message}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
