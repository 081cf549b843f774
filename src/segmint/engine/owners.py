"""Who a lead may be assigned to: its `owner` is the email of a user of the project's
organization. A single write naming anyone else is refused; a batch (an import, a bulk upsert)
keeps its rows and leaves those leads unassigned, with a warning naming them, because files from
other tools name owners who were never users here."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import sqlalchemy as sa

from segmint.auth import ACTIVE
from segmint.errors import InvalidInput
from segmint.projects import Project
from segmint.store.tables import users

OWNER = "owner"
NOT_A_USER = "is not a user of this organization: assign one of its users, or no one"
WARNED_ROWS = 10  # a warning names this many rows, then says how many more


def assignees(conn: sa.Connection, project: Project) -> list[sa.Row[Any]]:
    """The users a lead of the project can be assigned to, by email."""
    query = (
        sa.select(users.c.id, users.c.email, users.c.name)
        .where(users.c.organization_id == project.organization_id, ACTIVE)
        .order_by(users.c.email)
    )
    return list(conn.execute(query))


def unknown(conn: sa.Connection, project: Project, emails: Collection[str]) -> set[str]:
    """Which of these (lower-cased) emails are not users of the project's organization."""
    wanted = {email for email in emails if email}
    if not wanted:
        return set()
    query = sa.select(users.c.email).where(
        users.c.organization_id == project.organization_id,
        users.c.email.in_(sorted(wanted)),
        ACTIVE,
    )
    return wanted - set(conn.execute(query).scalars())


def check(conn: sa.Connection, project: Project, owner: Any, path: str = OWNER) -> None:
    """Refuse an owner who is not a user of the organization (None: unassigned, always fine)."""
    if isinstance(owner, str) and unknown(conn, project, [owner]):
        raise InvalidInput(f"{owner!r} {NOT_A_USER}", path)


def unassigned_warning(rows: Iterable[tuple[int, str]], unit: str = "line") -> str:
    """One warning for every kept row whose owner was left out: `(location, email)` pairs."""
    rows = list(rows)
    named = ", ".join(f"{unit} {location} ({email})" for location, email in rows[:WARNED_ROWS])
    more = f" and {len(rows) - WARNED_ROWS} more" if len(rows) > WARNED_ROWS else ""
    return (
        f"owner: {len(rows)} row(s) name someone who is not a user of this organization; "
        f"those leads were written without that owner: {named}{more}"
    )
