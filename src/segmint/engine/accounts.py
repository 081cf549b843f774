"""Accounts (companies) of a project."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.engine import outbox
from segmint.engine.membership import Reason
from segmint.errors import NotFound
from segmint.projects import Project
from segmint.store.rows import AccountRow
from segmint.store.tables import accounts, leads


def get_account(conn: sa.Connection, project: Project, account_id: int) -> AccountRow:
    row = conn.execute(
        sa.select(accounts).where(accounts.c.project_id == project.id, accounts.c.id == account_id)
    ).first()
    if row is None:
        raise NotFound(f"no account {account_id}")
    return AccountRow.of(row)


def create_account(
    conn: sa.Connection, project: Project, fields: Mapping[str, Any], clock: Clock = SYSTEM_CLOCK
) -> AccountRow:
    now = clock.now()
    new_id = conn.execute(
        accounts.insert()
        .values(**fields, project_id=project.id, created_at=now, updated_at=now)
        .returning(accounts.c.id)
    ).scalar_one()
    outbox.accounts_written(conn, project.id, [new_id], now, Reason.ACCOUNT_WRITE, "created")
    return get_account(conn, project, new_id)


def update_account(
    conn: sa.Connection,
    project: Project,
    account_id: int,
    fields: Mapping[str, Any],
    clock: Clock = SYSTEM_CLOCK,
) -> AccountRow:
    get_account(conn, project, account_id)
    if fields:
        conn.execute(
            accounts.update()
            .where(accounts.c.project_id == project.id, accounts.c.id == account_id)
            .values(**fields, updated_at=clock.now())
        )
        # The account segments first (reason account_write), then the lead segments reading
        # `account.*`, whose item re-evaluates the account again and finds it right already.
        outbox.accounts_written(
            conn,
            project.id,
            [account_id],
            clock.now(),
            Reason.ACCOUNT_WRITE,
            ", ".join(sorted(fields)),
        )
        _account_leads_changed(conn, project, account_id, clock)
    return get_account(conn, project, account_id)


def _account_leads_changed(
    conn: sa.Connection, project: Project, account_id: int, clock: Clock
) -> None:
    """Segments about `account.*` re-evaluate the account's leads (their read sets name the
    `account_id` column for those fields)."""
    lead_ids = conn.execute(
        sa.select(leads.c.id).where(
            leads.c.project_id == project.id, leads.c.account_id == account_id
        )
    ).scalars()
    outbox.leads_written(conn, project.id, lead_ids, clock.now(), columns={"account_id"})
