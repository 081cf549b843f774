"""A leaving teammate's leads handed to another: one "set owner" bulk action per project that
holds leads they own. Going through a bulk action, the hand-over follows the same write rules as
any other change (membership history, webhooks, the index) and shows its progress beside the
project's other bulk actions, however many leads there are."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from segmint.auth import ACTIVE, Principal, normalise_user_email
from segmint.engine import bulk, owners
from segmint.errors import InvalidInput
from segmint.projects import Project, list_projects
from segmint.store.rows import BulkActionRow
from segmint.store.tables import leads, users


def receiver(conn: sa.Connection, organization_id: int, email: str, leaving: str, path: str) -> str:
    """`email` as stored, if it names a user of the organization other than the one leaving."""
    wanted = normalise_user_email(email)
    if wanted == leaving:
        raise InvalidInput("give their leads to someone else", path)
    found = conn.execute(
        sa.select(users.c.email).where(
            users.c.organization_id == organization_id, users.c.email == wanted, ACTIVE
        )
    ).scalar()
    if found is None:
        raise InvalidInput(f"{wanted!r} {owners.NOT_A_USER}", path)
    return str(found)


def hand_over_leads(
    conn: sa.Connection, principal: Principal, from_email: str, to_email: str, now: datetime
) -> list[tuple[Project, BulkActionRow]]:
    """Queue the hand-over of every lead `from_email` owns, in each project of the caller's
    organization, to `to_email` (who must be one of its users). Returns the actions started."""
    started = []
    for project in list_projects(conn, principal.organization_id):
        owns_any = sa.select(leads.c.id).where(
            leads.c.project_id == project.id, leads.c.owner == from_email
        )
        if conn.execute(owns_any.limit(1)).first() is None:
            continue
        request = {
            "action": "set_owner",
            "params": {owners.OWNER: to_email},
            "selection": {"filter": {"field": owners.OWNER, "op": "eq", "value": from_email}},
        }
        started.append((project, bulk.start(conn, project, principal, request, now)))
    return started
