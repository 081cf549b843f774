"""Engagement scoring: points per event type, with decay, turned into a score and a level.

A lead's score is the sum over the project's rules of the points of its matching events, each
weighted by its age (`halve`: half every `decay_days`; `expire`: nothing after `decay_days`),
a rule giving at most `cap` points; it is rounded to whole points and never below zero.
`max_score` keeps the highest score a lead ever had; `engagement_level` names the band the
score falls in (Cold 0-24, Warm 25-49, Hot 50-74, Very Hot 75+ unless the project sets others).

Scores are stored on the lead, so segments filter on them like any column, and every change is
a lead write: the outbox and the membership engine carry it to history and webhooks. They are
computed set-wise (one aggregate per rule over the events), when:
- events arrive: in the same transaction, for the leads they belong to;
- rules or levels change: every lead, in chunks, by the worker's sweep (`sweep_due`);
- time passes and a rule decays: the sweep recomputes the leads with such events every
  DECAY_SWEEP_EVERY.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.clock import SYSTEM_CLOCK, Clock, as_utc
from segmint.engine import outbox
from segmint.errors import InvalidInput, NotFound
from segmint.filters import EventCondition, event_predicates, parse_filter
from segmint.projects import Project, get_project_by_id
from segmint.store.db import one_of
from segmint.store.tables import (
    events,
    lead_event_counts,
    leads,
    score_history,
    scoring_rules,
    scoring_settings,
)

DEFAULT_LEVELS: tuple[tuple[str, float], ...] = (
    ("Cold", 0),
    ("Warm", 25),
    ("Hot", 50),
    ("Very Hot", 75),
)
DECAYS = ("none", "halve", "expire")
DECAY_SWEEP_EVERY = timedelta(minutes=10)
CHUNK = 2_000  # leads rescored per transaction when every lead is
POINTS_LIMIT = 10_000
SCORED_COLUMNS = ("engagement_score", "max_score", "engagement_level")
DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Rule:
    id: int
    event_type: str
    points: float
    where: Any
    cap: float | None
    decay: str
    decay_days: int | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_type": self.event_type,
            "points": self.points,
            "where": self.where,
            "cap": self.cap,
            "decay": self.decay,
            "decay_days": self.decay_days,
        }


Levels = list[tuple[str, float]]


# -- rules and levels --------------------------------------------------------------------------


def list_rules(conn: sa.Connection, project: Project) -> list[Rule]:
    rows = conn.execute(
        sa.select(scoring_rules)
        .where(scoring_rules.c.project_id == project.id)
        .order_by(scoring_rules.c.id)
    )
    return [_rule(row) for row in rows]


def _rule(row: Any) -> Rule:
    return Rule(row.id, row.event_type, row.points, row.where, row.cap, row.decay, row.decay_days)


def checked_number(value: Any, path: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput("expected a number", path)
    if abs(value) > POINTS_LIMIT:
        raise InvalidInput(f"at most {POINTS_LIMIT} in size", path)
    if positive and value <= 0:
        raise InvalidInput("expected a number above zero", path)
    return float(value)


def check_rule(project: Project, data: Mapping[str, Any]) -> dict[str, Any]:
    """A rule's fields, validated; errors name the field (`where.and[0].value`, say)."""
    event_type = data.get("event_type")
    if not isinstance(event_type, str) or not event_type.strip() or len(event_type) > 100:
        raise InvalidInput("expected an event type of 1-100 characters", "event_type")
    points = checked_number(data.get("points"), "points")
    cap = data.get("cap")
    decay = data.get("decay") or "none"
    if decay not in DECAYS:
        raise InvalidInput("expected none, halve or expire", "decay")
    days = data.get("decay_days")
    if decay == "none":
        days = None
    elif isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
        raise InvalidInput("expected a whole number of days from 1 to 3650", "decay_days")
    where = data.get("where")
    if where is not None:  # checked as an event condition's `where`, paths and all
        parse_filter({"event": event_type.strip(), "where": where}, project, path="rule")
    return {
        "event_type": event_type.strip(),
        "points": points,
        "cap": None if cap is None else checked_number(cap, "cap", positive=True),
        "decay": decay,
        "decay_days": days,
        "where": where,
    }


def create_rule(
    conn: sa.Connection, project: Project, data: Mapping[str, Any], clock: Clock = SYSTEM_CLOCK
) -> Rule:
    values = check_rule(project, data)
    now = clock.now()
    rule_id = conn.execute(
        scoring_rules.insert()
        .values(project_id=project.id, created_at=now, updated_at=now, **values)
        .returning(scoring_rules.c.id)
    ).scalar_one()
    rescore_later(conn, project, now)
    return get_rule(conn, project, rule_id)


def get_rule(conn: sa.Connection, project: Project, rule_id: int) -> Rule:
    row = conn.execute(
        sa.select(scoring_rules).where(
            scoring_rules.c.project_id == project.id, scoring_rules.c.id == rule_id
        )
    ).first()
    if row is None:
        raise NotFound(f"no scoring rule {rule_id}")
    return _rule(row)


def update_rule(
    conn: sa.Connection,
    project: Project,
    rule_id: int,
    changes: Mapping[str, Any],
    clock: Clock = SYSTEM_CLOCK,
) -> Rule:
    current = get_rule(conn, project, rule_id).public()
    values = check_rule(project, {**current, **changes})
    now = clock.now()
    conn.execute(
        scoring_rules.update()
        .where(scoring_rules.c.project_id == project.id, scoring_rules.c.id == rule_id)
        .values(updated_at=now, **values)
    )
    rescore_later(conn, project, now)
    return get_rule(conn, project, rule_id)


def delete_rule(
    conn: sa.Connection, project: Project, rule_id: int, clock: Clock = SYSTEM_CLOCK
) -> None:
    get_rule(conn, project, rule_id)
    conn.execute(
        scoring_rules.delete().where(
            scoring_rules.c.project_id == project.id, scoring_rules.c.id == rule_id
        )
    )
    rescore_later(conn, project, clock.now())


def levels(conn: sa.Connection, project: Project) -> Levels:
    stored = conn.execute(
        sa.select(scoring_settings.c.engagement_levels).where(
            scoring_settings.c.project_id == project.id
        )
    ).scalar()
    if stored is None:
        return list(DEFAULT_LEVELS)
    return [(band["name"], float(band["min"])) for band in stored]


def checked_levels(data: Any) -> Levels:
    """Bands as [{"name", "min"}], lowest first, names unique, the first starting at 0."""
    if not isinstance(data, list) or not 1 <= len(data) <= 20:
        raise InvalidInput("expected 1 to 20 levels", "levels")
    bands: Levels = []
    for i, band in enumerate(data):
        path = f"levels[{i}]"
        if not isinstance(band, dict):
            raise InvalidInput('expected {"name", "min"}', path)
        name = band.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 50:
            raise InvalidInput("expected a name of 1-50 characters", f"{path}.name")
        low = checked_number(band.get("min"), f"{path}.min")
        if any(name.strip() == other for other, _ in bands):
            raise InvalidInput(f"{name.strip()!r} is named twice", f"{path}.name")
        if bands and low <= bands[-1][1]:
            raise InvalidInput("each level must start above the one before", f"{path}.min")
        bands.append((name.strip(), low))
    if bands[0][1] != 0:
        raise InvalidInput("the first level starts at 0", "levels[0].min")
    return bands


def set_levels(
    conn: sa.Connection, project: Project, data: Any, clock: Clock = SYSTEM_CLOCK
) -> Levels:
    bands = checked_levels(data)
    now = clock.now()
    _settings_row(conn, project, now)
    conn.execute(
        scoring_settings.update()
        .where(scoring_settings.c.project_id == project.id)
        .values(engagement_levels=[{"name": n, "min": m} for n, m in bands], updated_at=now)
    )
    rescore_later(conn, project, now)
    return bands


def level_of(score: float, bands: Levels) -> str | None:
    found = None
    for name, low in bands:
        if score >= low:
            found = name
    return found


@dataclass(frozen=True)
class HeldLevels:
    """How many leads hold each level now (as filters read it), and how many hold none of them
    (not yet scored, or written with a level of their own, which the next rescore replaces)."""

    counts: list[dict[str, Any]]
    unleveled: int


def held_levels(conn: sa.Connection, project: Project) -> HeldLevels:
    """How many leads hold each engagement level now, and how many none."""
    return held_by(conn, project, leads.c.engagement_level, levels(conn, project))


def held_by(
    conn: sa.Connection, project: Project, column: sa.Column[Any], bands: Levels
) -> HeldLevels:
    """Counts by the leads' stored level (`engagement_level` or `profile_level`): what
    "Engagement level is Cold" matches, not what the scores would give."""
    rows: dict[str | None, int] = dict(
        conn.execute(
            sa.select(column, sa.func.count())
            .where(leads.c.project_id == project.id)
            .group_by(column)
        ).all()
    )
    counts = [{"name": name, "min": low, "count": int(rows.get(name, 0))} for name, low in bands]
    named = {name for name, _ in bands}
    return HeldLevels(counts, sum(n for level, n in rows.items() if level not in named))


def level_counts(conn: sa.Connection, project: Project, bands: Levels) -> list[dict[str, Any]]:
    """How many leads each band would hold by their stored scores: a preview of new bands."""
    score = leads.c.engagement_score
    counts = []
    for i, (name, low) in enumerate(bands):
        high = bands[i + 1][1] if i + 1 < len(bands) else None
        condition = [leads.c.project_id == project.id, score >= low]
        if high is not None:
            condition.append(score < high)
        total = conn.execute(sa.select(sa.func.count()).where(*condition)).scalar_one()
        counts.append({"name": name, "min": low, "count": int(total)})
    return counts


def _settings_row(conn: sa.Connection, project: Project, now: datetime) -> None:
    exists = conn.execute(
        sa.select(scoring_settings.c.project_id).where(scoring_settings.c.project_id == project.id)
    ).first()
    if exists is None:
        conn.execute(
            scoring_settings.insert().values(
                project_id=project.id,
                engagement_levels=[{"name": n, "min": m} for n, m in DEFAULT_LEVELS],
                updated_at=now,
            )
        )


def rescore_later(conn: sa.Connection, project: Project, now: datetime) -> None:
    """Rules or levels changed: the worker's sweep rescores every lead (swept_at cleared)."""
    _settings_row(conn, project, now)
    conn.execute(
        scoring_settings.update()
        .where(scoring_settings.c.project_id == project.id)
        .values(swept_at=None, updated_at=now)
    )


# -- computing ---------------------------------------------------------------------------------


def _age_days(now: datetime, dialect: str) -> sa.ColumnElement[Any]:
    """An event's age in days at `now` (never below zero: a future event counts in full)."""
    if dialect == "postgresql":
        seconds = sa.func.extract("epoch", sa.literal(now) - events.c.occurred_at)
        return sa.func.greatest(seconds, 0) / DAY_SECONDS
    stamp = as_utc(now).replace(tzinfo=None).isoformat(sep=" ")  # as SQLite stores them
    age = sa.func.julianday(sa.literal(stamp)) - sa.func.julianday(events.c.occurred_at)
    return sa.func.max(age, 0)


def _rule_points(
    rule: Rule, project: Project, now: datetime, dialect: str, lead_ids: Collection[int] | None
) -> sa.Select[Any]:
    """lead_id, points from this rule: one aggregate over the rule's events."""
    where = (
        None
        if rule.where is None
        else parse_filter({"event": rule.event_type, "where": rule.where}, project)
    )
    node = where if isinstance(where, EventCondition) else EventCondition(rule.event_type)
    conditions = event_predicates(node, project, now, dialect)
    weight: sa.ColumnElement[float] = sa.literal(1.0)
    if rule.decay == "expire" and rule.decay_days:
        conditions.append(events.c.occurred_at > now - timedelta(days=rule.decay_days))
    elif rule.decay == "halve" and rule.decay_days:
        weight = sa.func.power(0.5, _age_days(now, dialect) / rule.decay_days)
    if lead_ids is not None:
        conditions.append(one_of(events.c.lead_id, lead_ids, dialect))
    total = sa.func.sum(rule.points * weight)
    return sa.select(events.c.lead_id, total).where(*conditions).group_by(events.c.lead_id)


def compute(
    conn: sa.Connection,
    project: Project,
    rules: Iterable[Rule],
    now: datetime,
    lead_ids: Collection[int] | None = None,
) -> dict[int, float]:
    """Each lead's score (leads with no scored event are left out: their score is 0)."""
    totals: dict[int, float] = {}
    dialect = conn.dialect.name
    for rule in rules:
        for lead_id, points in conn.execute(_rule_points(rule, project, now, dialect, lead_ids)):
            points = float(points or 0)
            if rule.cap is not None:
                points = min(points, rule.cap)
            totals[lead_id] = totals.get(lead_id, 0.0) + points
    # Whole points, halves rounded up (Python's round() would send 2.5 to 2), never below 0.
    return {lead_id: max(math.floor(total + 0.5), 0) for lead_id, total in totals.items()}


def apply(
    conn: sa.Connection,
    project: Project,
    lead_ids: Collection[int],
    scores: Mapping[int, float],
    bands: Levels,
    now: datetime,
) -> int:
    """Store the scores of `lead_ids` (0 when absent from `scores`) where they changed, with
    max_score, the level and a history row; the membership engine hears of it. Returns how
    many leads changed."""
    ids = sorted(set(lead_ids))
    if not ids:
        return 0
    current = conn.execute(
        sa.select(
            leads.c.id, leads.c.engagement_score, leads.c.max_score, leads.c.engagement_level
        ).where(leads.c.project_id == project.id, one_of(leads.c.id, ids, conn.dialect.name))
    )
    updates: list[dict[str, Any]] = []
    moved: list[int] = []  # the leads whose score itself changed: a point in their history
    for row in current:
        score = float(scores.get(row.id, 0))
        level = level_of(score, bands)
        top = max(float(row.max_score or 0), score)
        if (score, top, level) == (row.engagement_score, row.max_score, row.engagement_level):
            continue
        updates.append({"b_id": row.id, "b_score": score, "b_max": top, "b_level": level})
        if score != row.engagement_score:
            moved.append(row.id)
    if not updates:
        return 0
    conn.execute(
        leads.update()
        .where(leads.c.project_id == project.id, leads.c.id == sa.bindparam("b_id"))
        .values(
            engagement_score=sa.bindparam("b_score"),
            max_score=sa.bindparam("b_max"),
            engagement_level=sa.bindparam("b_level"),
            updated_at=now,
        ),
        updates,
    )
    if moved:  # a level given to a score that did not move is no new point in its history
        points = [
            {
                "project_id": project.id,
                "lead_id": lead_id,
                "at": now,
                "score": scores.get(lead_id, 0),
            }
            for lead_id in moved
        ]
        conn.execute(score_history.insert(), points)
    outbox.leads_written(conn, project.id, [u["b_id"] for u in updates], now, SCORED_COLUMNS)
    return len(updates)


def rescore(conn: sa.Connection, project: Project, lead_ids: Collection[int], now: datetime) -> int:
    """Bring these leads' scores up to date (new events): nothing to do without rules."""
    rules = list_rules(conn, project)
    if not rules or not lead_ids:
        return 0
    scores = compute(conn, project, rules, now, lead_ids)
    return apply(conn, project, lead_ids, scores, levels(conn, project), now)


def rescore_all(
    engine: Engine,
    project: Project,
    now: datetime,
    on_progress: Callable[[int, int], None] | None = None,
    only_types: Collection[str] | None = None,
) -> int:
    """Every lead of the project (or those with events of `only_types`), CHUNK leads per
    transaction; `on_progress(done, total)` after each chunk. Returns how many changed."""
    with engine.connect() as conn:
        total = _candidate_count(conn, project, only_types)
    done = changed = 0
    after = 0
    while True:
        with engine.begin() as conn:
            ids = _candidates(conn, project, only_types, after)
            if not ids:
                break
            rules = list_rules(conn, project)
            scores = compute(conn, project, rules, now, ids)
            changed += apply(conn, project, ids, scores, levels(conn, project), now)
        done += len(ids)
        after = ids[-1]
        if on_progress:
            on_progress(done, total)
    return changed


def _candidate_column(
    project: Project, only_types: Collection[str] | None
) -> tuple[sa.ColumnElement[Any], list[sa.ColumnElement[bool]]]:
    """The column of lead ids to rescore, and the conditions that choose them."""
    if only_types is None:
        return leads.c.id, [leads.c.project_id == project.id]
    # leads with events of these types: their counters say so without reading events
    return lead_event_counts.c.lead_id, [
        lead_event_counts.c.project_id == project.id,
        lead_event_counts.c.type.in_(sorted(only_types)),
    ]


def _candidate_count(
    conn: sa.Connection, project: Project, only_types: Collection[str] | None
) -> int:
    column, scope = _candidate_column(project, only_types)
    query = sa.select(sa.func.count(sa.distinct(column))).where(*scope)
    return int(conn.execute(query).scalar_one())


def _candidates(
    conn: sa.Connection, project: Project, only_types: Collection[str] | None, after: int
) -> list[int]:
    """The next CHUNK lead ids after `after` (keyset)."""
    column, scope = _candidate_column(project, only_types)
    query = sa.select(column).where(*scope, column > after).distinct()
    return list(conn.execute(query.order_by(column).limit(CHUNK)).scalars())


# -- the worker's sweep ---------------------------------------------------------------------------


def due_projects(conn: sa.Connection, now: datetime) -> list[int]:
    """Projects whose scores need a sweep: rules or levels changed (swept_at cleared), or a
    decaying rule and DECAY_SWEEP_EVERY since the last sweep. Across projects, like the
    worker's other queues."""
    decaying = sa.select(scoring_rules.c.project_id).where(scoring_rules.c.decay != "none")
    rows = conn.execute(
        sa.select(scoring_settings.c.project_id).where(
            sa.or_(
                scoring_settings.c.swept_at.is_(None),
                sa.and_(
                    scoring_settings.c.swept_at <= now - DECAY_SWEEP_EVERY,
                    scoring_settings.c.project_id.in_(decaying),
                ),
            )
        )
    )
    return [row.project_id for row in rows]


def sweep(
    engine: Engine,
    project_id: int,
    now: datetime,
    after_change: Callable[[Engine, Project, datetime], int] | None = None,
) -> int:
    """One project's due sweep: every lead after a change of rules (then `after_change`, the
    profile fit's refit), else those with events of decaying rules. Returns how many leads
    changed."""
    with engine.connect() as conn:
        project = get_project_by_id(conn, project_id)
        settings = conn.execute(
            sa.select(scoring_settings).where(scoring_settings.c.project_id == project_id)
        ).one()
        rules = list_rules(conn, project)
    if settings.swept_at is None:
        changed = rescore_all(engine, project, now)
        if after_change is not None:
            changed += after_change(engine, project, now)
    else:
        decaying = {r.event_type for r in rules if r.decay != "none"}
        changed = rescore_all(engine, project, now, only_types=decaying) if decaying else 0
    with engine.begin() as conn:  # unless the rules changed meanwhile: then sweep again
        conn.execute(
            scoring_settings.update()
            .where(
                scoring_settings.c.project_id == project_id,
                scoring_settings.c.updated_at == settings.updated_at,
            )
            .values(swept_at=now)
        )
    return changed


def score_history_of(
    conn: sa.Connection, project: Project, lead_id: int, limit: int = 100
) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(score_history.c.at, score_history.c.score)
        .where(score_history.c.project_id == project.id, score_history.c.lead_id == lead_id)
        .order_by(score_history.c.at.desc(), score_history.c.id.desc())
        .limit(limit)
    )
    return [{"at": as_utc(row.at), "score": row.score} for row in rows]


def rescoring(conn: sa.Connection, project: Project) -> bool:
    """Whether a full rescore is pending or under way (rules, bands or rollup changed)."""
    row = conn.execute(
        sa.select(scoring_settings.c.swept_at).where(scoring_settings.c.project_id == project.id)
    ).first()
    return row is not None and row.swept_at is None
