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

from segmint.engine import accounts as accounts_engine
from segmint.engine import fit, scoring
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
    """Recompute the levels of the accounts these leads belong to; returns how many changed."""
    ids = sorted(set(lead_ids))
    if not ids:
        return 0
    dialect = conn.dialect.name
    account_ids = sorted(
        conn.execute(
            sa.select(leads.c.account_id)
            .where(
                leads.c.project_id == project.id,
                one_of(leads.c.id, ids, dialect),
                leads.c.account_id.is_not(None),
            )
            .distinct()
        ).scalars()
    )
    return refresh_accounts(conn, project, account_ids, now)


def refresh_accounts(
    conn: sa.Connection, project: Project, account_ids: Collection[int], now: datetime
) -> int:
    if not account_ids:
        return 0
    dialect = conn.dialect.name
    members = conn.execute(
        sa.select(leads.c.id, leads.c.account_id, leads.c.engagement_score).where(
            leads.c.project_id == project.id,
            one_of(leads.c.account_id, sorted(account_ids), dialect),
        )
    ).all()
    fit_scores = fit.scores(conn, project, [m.id for m in members], now)
    engagement: dict[int, list[float]] = defaultdict(list)
    fitness: dict[int, list[float]] = defaultdict(list)
    for member in members:
        engagement[member.account_id].append(float(member.engagement_score or 0))
        fitness[member.account_id].append(fit_scores.get(member.id, 0.0))
    combine = max if rollup(conn, project) == "max" else sum
    bands, fit_bands = scoring.levels(conn, project), fit.levels(conn, project)
    has_fit = bool(fit.list_rules(conn, project))
    changed = 0
    for account_id in sorted(account_ids):
        row = conn.execute(
            sa.select(accounts.c.engagement_level, accounts.c.profile_level).where(
                accounts.c.project_id == project.id, accounts.c.id == account_id
            )
        ).first()
        if row is None:
            continue
        level = scoring.level_of(combine(engagement[account_id] or [0.0]), bands)
        profile = (
            scoring.level_of(max(combine(fitness[account_id] or [0.0]), 0), fit_bands)
            if has_fit
            else row.profile_level
        )
        if (level, profile) != (row.engagement_level, row.profile_level):
            accounts_engine.update_account(
                conn, project, account_id, {"engagement_level": level, "profile_level": profile}
            )
            changed += 1
    return changed


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
