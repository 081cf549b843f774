"""Account engagement and fit levels, rolled up from their leads.

An account's engagement score is the highest of its leads' scores, or their total (the
project's `account_rollup`: max or sum); its fit score likewise from its leads' fit scores. Each
is placed in the project's bands, as a lead's is, and stored on the account, so segments on
`account.engagement_level` / `account.profile_level` see it. The worker refreshes the accounts
of the leads whose scores, fit or account changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.engine import fit, outbox, scoring
from segmint.errors import InvalidInput
from segmint.projects import Project
from segmint.store.db import one_of
from segmint.store.tables import accounts, leads, scoring_settings

ROLLUPS = ("max", "sum")
# Lead columns whose change may move an account's levels.
ROLLED_UP = frozenset({"engagement_score", "profile_level", "account_id"})


def rollup(conn: sa.Connection, project: Project) -> str:
    stored = conn.execute(
        sa.select(scoring_settings.c.account_rollup).where(
            scoring_settings.c.project_id == project.id
        )
    ).scalar()
    return stored or "max"


def set_rollup(conn: sa.Connection, project: Project, value: str, now: datetime) -> str:
    if value not in ROLLUPS:
        raise InvalidInput("expected max or sum", "account_rollup")
    scoring.rescore_later(conn, project, now)  # every account is refreshed by the sweep
    conn.execute(
        scoring_settings.update()
        .where(scoring_settings.c.project_id == project.id)
        .values(account_rollup=value)
    )
    return value


def refresh(conn: sa.Connection, project: Project, lead_ids: Collection[int], now: datetime) -> int:
    """Recompute the levels of the accounts these leads belong to; returns how many changed.
    Nothing to do (and no query on the write path) while the project scores nothing: then the
    levels stay as they were given."""
    ids = sorted(set(lead_ids))
    if not ids or not _scored(conn, project):
        return 0
    account_ids = conn.execute(
        sa.select(leads.c.account_id)
        .where(
            leads.c.project_id == project.id,
            one_of(leads.c.id, ids, conn.dialect.name),
            leads.c.account_id.is_not(None),
        )
        .distinct()
    ).scalars()
    return refresh_accounts(conn, project, sorted(account_ids), now)


def _scored(conn: sa.Connection, project: Project) -> bool:
    return bool(scoring.list_rules(conn, project) or fit.list_rules(conn, project))


def refresh_accounts(
    conn: sa.Connection, project: Project, account_ids: Collection[int], now: datetime
) -> int:
    """One read of the accounts, one of their leads, one batched UPDATE of those that changed
    and one outbox entry for their leads (segments on `account.*` re-evaluate them)."""
    if not account_ids:
        return 0
    dialect = conn.dialect.name
    wanted = sorted(set(account_ids))
    members = conn.execute(
        sa.select(leads.c.id, leads.c.account_id, leads.c.engagement_score).where(
            leads.c.project_id == project.id, one_of(leads.c.account_id, wanted, dialect)
        )
    ).all()
    has_fit = bool(fit.list_rules(conn, project))
    fit_scores = fit.scores(conn, project, [m.id for m in members], now) if has_fit else {}
    engagement: dict[int, list[float]] = defaultdict(list)
    fitness: dict[int, list[float]] = defaultdict(list)
    for member in members:
        engagement[member.account_id].append(float(member.engagement_score or 0))
        fitness[member.account_id].append(fit_scores.get(member.id, 0.0))
    combine = max if rollup(conn, project) == "max" else sum
    bands, fit_bands = scoring.levels(conn, project), fit.levels(conn, project)
    current = conn.execute(
        sa.select(accounts.c.id, accounts.c.engagement_level, accounts.c.profile_level).where(
            accounts.c.project_id == project.id, one_of(accounts.c.id, wanted, dialect)
        )
    )
    updates = []
    for row in current:
        level = scoring.level_of(combine(engagement[row.id] or [0.0]), bands)
        profile = row.profile_level
        if has_fit:
            profile = scoring.level_of(max(combine(fitness[row.id] or [0.0]), 0), fit_bands)
        if (level, profile) != (row.engagement_level, row.profile_level):
            updates.append({"b_id": row.id, "b_level": level, "b_profile": profile})
    if not updates:
        return 0
    conn.execute(
        accounts.update()
        .where(accounts.c.project_id == project.id, accounts.c.id == sa.bindparam("b_id"))
        .values(
            engagement_level=sa.bindparam("b_level"),
            profile_level=sa.bindparam("b_profile"),
            updated_at=now,
        ),
        updates,
    )
    changed = {u["b_id"] for u in updates}
    outbox.leads_written(
        conn,
        project.id,
        [m.id for m in members if m.account_id in changed],
        now,
        columns={"account_id"},  # what segments on account fields read, as accounts.py says
    )
    return len(updates)


def refresh_all(engine: Engine, project: Project, now: datetime) -> int:
    """Every account of the project (after a change of rules, bands or rollup), in chunks."""
    changed = after = 0
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    sa.select(accounts.c.id)
                    .where(accounts.c.project_id == project.id, accounts.c.id > after)
                    .order_by(accounts.c.id)
                    .limit(scoring.CHUNK)
                ).scalars()
            )
            if not ids:
                return changed
            changed += refresh_accounts(conn, project, ids, now)
        after = ids[-1]
