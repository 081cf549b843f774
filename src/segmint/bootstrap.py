"""`segmint init`: schema, a first organization, the `default` project, an owner. Idempotent."""

from __future__ import annotations

import os
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.errors import InvalidInput, NotFound
from segmint.model import Role
from segmint.projects import Project, create_project, get_project
from segmint.store import migrate
from segmint.store.tables import organizations, users

DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class Installation:
    organization_id: int
    project: Project
    owner_id: int | None


def init(
    engine: Engine,
    owner_email: str | None = None,
    owner_password: str | None = None,
    organization_name: str = "My organization",
    clock: Clock = SYSTEM_CLOCK,
) -> Installation:
    migrate.upgrade(engine)
    with engine.begin() as conn:
        organization_id = _first_organization(conn) or auth.create_organization(
            conn, organization_name, clock
        )
        try:
            project = get_project(conn, organization_id, DEFAULT_PROJECT)
        except NotFound:
            project = create_project(conn, organization_id, DEFAULT_PROJECT, "Default", clock=clock)
        owner_id = None
        if owner_email:
            owner_id = _ensure_owner(conn, organization_id, owner_email, owner_password, clock)
    return Installation(organization_id, project, owner_id)


def _first_organization(conn: sa.Connection) -> int | None:
    row = conn.execute(sa.select(organizations.c.id).order_by(organizations.c.id).limit(1)).first()
    return int(row.id) if row else None


def _ensure_owner(
    conn: sa.Connection, organization_id: int, email: str, password: str | None, clock: Clock
) -> int:
    row = conn.execute(
        sa.select(users.c.id, users.c.role).where(
            users.c.organization_id == organization_id,
            users.c.email == auth.normalise_user_email(email),
            auth.ACTIVE,
        )
    ).first()
    if row is None:  # new, or removed and added back
        return auth.create_user(conn, organization_id, email, Role.OWNER, password, clock)
    if row.role != Role.OWNER:  # `init --owner-email E` makes E an owner, as it reports
        conn.execute(users.update().where(users.c.id == row.id).values(role=Role.OWNER.value))
    if password:
        auth.set_password(conn, row.id, password)
    return int(row.id)


ORGANIZATION_ENV = "SEGMINT_ORGANIZATION"


def cli_organization(conn: sa.Connection) -> int:
    """The organization a CLI command acts on: `SEGMINT_ORGANIZATION` (an id or a name), else
    the first one, which `segmint init` made and keeps. Other organizations (a bench run's, or
    a second tenant's) never stop the CLI from working on the first."""
    chosen = os.environ.get(ORGANIZATION_ENV, "").strip()
    if not chosen:
        first = _first_organization(conn)
        if first is None:
            raise InvalidInput("no organization yet: run `segmint init` first")
        return first
    match = organizations.c.name == chosen
    if chosen.isdigit():
        match = sa.or_(match, organizations.c.id == int(chosen))
    row = conn.execute(sa.select(organizations.c.id).where(match).limit(1)).first()
    if row is None:
        raise NotFound(f"{ORGANIZATION_ENV}={chosen!r}: no organization with that id or name")
    return int(row.id)


def cli_project(conn: sa.Connection, slug: str) -> Project:
    """A project of the CLI's organization (see cli_organization) by its slug."""
    return get_project(conn, cli_organization(conn), slug)
