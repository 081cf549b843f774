"""Profile fit: how well a lead matches the customers a project wants.

Each rule is a filter of the filter language over lead and account fields ("company size 50+",
"job title contains VP") with points; a lead's fit score is the sum of the points of the rules
it matches, never below zero, and its `profile_level` the band that score falls in (Poor Fit
0-24, Good Fit 25-49, Strong Fit 50+ unless the project sets others).

The level is a lead column, so segments use it like any other. It follows lead writes: the
worker refits the leads of every write it processes (`refit`), and the scoring sweep refits
every lead after the rules or bands change (`refit_all`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.engine import filtering, outbox
from segmint.engine.scoring import (
    CHUNK,
    HeldLevels,
    Levels,
    checked_levels,
    checked_number,
    held_by,
    level_of,
    rescore_later,
)
from segmint.errors import InvalidInput, NotFound
from segmint.filters import SegmentSource
from segmint.projects import Project
from segmint.store.db import one_of
from segmint.store.tables import fit_rules, leads, scoring_settings

DEFAULT_FIT_LEVELS: tuple[tuple[str, float], ...] = (
    ("Poor Fit", 0),
    ("Good Fit", 25),
    ("Strong Fit", 50),
)
FIT_COLUMNS = ("profile_level",)


@dataclass(frozen=True)
class FitRule:
    id: int
    name: str
    filter: Any
    points: float

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "filter": self.filter, "points": self.points}


def list_rules(conn: sa.Connection, project: Project) -> list[FitRule]:
    rows = conn.execute(
        sa.select(fit_rules).where(fit_rules.c.project_id == project.id).order_by(fit_rules.c.id)
    )
    return [FitRule(r.id, r.name, r.filter, r.points) for r in rows]


def get_rule(conn: sa.Connection, project: Project, rule_id: int) -> FitRule:
    row = conn.execute(
        sa.select(fit_rules).where(fit_rules.c.project_id == project.id, fit_rules.c.id == rule_id)
    ).first()
    if row is None:
        raise NotFound(f"no fit rule {rule_id}")
    return FitRule(row.id, row.name, row.filter, row.points)


def check_rule(
    conn: sa.Connection,
    project: Project,
    data: Mapping[str, Any],
    source: SegmentSource | None = None,
) -> dict[str, Any]:
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise InvalidInput("expected a name of 1-255 characters", "name")
    # Only owners and admins write fit rules (the routes say so), and they read every segment.
    # errors name filter.and[0]
    filtering.validate(conn, project, data.get("filter"), reader=None, source=source)
    return {
        "name": name.strip(),
        "filter": data.get("filter"),
        "points": checked_number(data.get("points"), "points"),
    }


def create_rule(
    conn: sa.Connection, project: Project, data: Mapping[str, Any], clock: Clock = SYSTEM_CLOCK
) -> FitRule:
    values = check_rule(conn, project, data)
    now = clock.now()
    rule_id = conn.execute(
        fit_rules.insert()
        .values(project_id=project.id, created_at=now, updated_at=now, **values)
        .returning(fit_rules.c.id)
    ).scalar_one()
    rescore_later(conn, project, now)
    return get_rule(conn, project, rule_id)


def update_rule(
    conn: sa.Connection,
    project: Project,
    rule_id: int,
    changes: Mapping[str, Any],
    clock: Clock = SYSTEM_CLOCK,
) -> FitRule:
    values = check_rule(conn, project, {**get_rule(conn, project, rule_id).public(), **changes})
    now = clock.now()
    conn.execute(
        fit_rules.update()
        .where(fit_rules.c.project_id == project.id, fit_rules.c.id == rule_id)
        .values(updated_at=now, **values)
    )
    rescore_later(conn, project, now)
    return get_rule(conn, project, rule_id)


def delete_rule(
    conn: sa.Connection, project: Project, rule_id: int, clock: Clock = SYSTEM_CLOCK
) -> None:
    get_rule(conn, project, rule_id)
    conn.execute(
        fit_rules.delete().where(fit_rules.c.project_id == project.id, fit_rules.c.id == rule_id)
    )
    rescore_later(conn, project, clock.now())


def levels(conn: sa.Connection, project: Project) -> Levels:
    stored = conn.execute(
        sa.select(scoring_settings.c.fit_levels).where(scoring_settings.c.project_id == project.id)
    ).scalar()
    if stored is None:
        return list(DEFAULT_FIT_LEVELS)
    return [(band["name"], float(band["min"])) for band in stored]


def set_levels(
    conn: sa.Connection, project: Project, data: Any, clock: Clock = SYSTEM_CLOCK
) -> Levels:
    bands = checked_levels(data)
    now = clock.now()
    rescore_later(conn, project, now)  # makes sure the settings row exists
    conn.execute(
        scoring_settings.update()
        .where(scoring_settings.c.project_id == project.id)
        .values(fit_levels=[{"name": n, "min": m} for n, m in bands])
    )
    return bands


def preview_counts(
    conn: sa.Connection, project: Project, bands: Levels, now: datetime
) -> list[dict[str, Any]]:
    """How many leads proposed fit bands would hold: each lead's fit score computed in SQL
    (a CASE per rule), counted per band."""
    total: sa.ColumnElement[Any] = sa.literal(0.0)
    for rule in list_rules(conn, project):
        matches = filtering.condition(conn, project, filtering.load(project, rule.filter), now)
        total = total + sa.case((matches, rule.points), else_=0.0)
    counts = []
    for i, (name, low) in enumerate(bands):
        condition = [leads.c.project_id == project.id, total >= low]
        if i + 1 < len(bands):
            condition.append(total < bands[i + 1][1])
        found = conn.execute(sa.select(sa.func.count()).where(*condition)).scalar_one()
        counts.append({"name": name, "min": low, "count": int(found)})
    return counts


def held_levels(conn: sa.Connection, project: Project) -> HeldLevels:
    """How many leads hold each fit level now, and how many none."""
    return held_by(conn, project, leads.c.profile_level, levels(conn, project))


def scores(
    conn: sa.Connection, project: Project, lead_ids: Collection[int], now: datetime
) -> dict[int, float]:
    """These leads' fit scores: the points of the rules each matches (one query a rule)."""
    ids = sorted(set(lead_ids))
    found = dict.fromkeys(ids, 0.0)
    if not ids:
        return found
    dialect = conn.dialect.name
    for rule in list_rules(conn, project):
        tree = filtering.load(project, rule.filter)
        query = sa.select(leads.c.id).where(
            leads.c.project_id == project.id,
            one_of(leads.c.id, ids, dialect),
            filtering.condition(conn, project, tree, now, ids),
        )
        for lead_id in conn.execute(query).scalars():
            found[lead_id] += rule.points
    return found


def refit(conn: sa.Connection, project: Project, lead_ids: Collection[int], now: datetime) -> int:
    """Recompute these leads' fit levels; write those that changed. Returns how many did."""
    if not lead_ids or not list_rules(conn, project):
        return 0
    return _store(conn, project, scores(conn, project, lead_ids, now), levels(conn, project), now)


def _store(
    conn: sa.Connection,
    project: Project,
    scores: Mapping[int, float],
    bands: Levels,
    now: datetime,
) -> int:
    current = conn.execute(
        sa.select(leads.c.id, leads.c.profile_level).where(
            leads.c.project_id == project.id, one_of(leads.c.id, list(scores), conn.dialect.name)
        )
    )
    updates = []
    for row in current:
        level = level_of(max(scores[row.id], 0), bands)
        if level != row.profile_level:
            updates.append({"b_id": row.id, "b_level": level})
    if not updates:
        return 0
    conn.execute(
        leads.update()
        .where(leads.c.project_id == project.id, leads.c.id == sa.bindparam("b_id"))
        .values(profile_level=sa.bindparam("b_level"), updated_at=now),
        updates,
    )
    outbox.leads_written(conn, project.id, [u["b_id"] for u in updates], now, FIT_COLUMNS)
    return len(updates)


def refit_all(
    engine: Engine,
    project: Project,
    now: datetime,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Every lead of the project, CHUNK per transaction (keyset over ids)."""
    with engine.connect() as conn:
        total = conn.execute(
            sa.select(sa.func.count()).where(leads.c.project_id == project.id)
        ).scalar_one()
        if not list_rules(conn, project):
            return 0
    done = changed = after = 0
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    sa.select(leads.c.id)
                    .where(leads.c.project_id == project.id, leads.c.id > after)
                    .order_by(leads.c.id)
                    .limit(CHUNK)
                ).scalars()
            )
            if not ids:
                return changed
            changed += refit(conn, project, ids, now)
        done += len(ids)
        after = ids[-1]
        if on_progress:
            on_progress(done, int(total))
