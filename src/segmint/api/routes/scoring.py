"""Engagement scoring: rules and levels (owners and admins change them), level counts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from segmint.api.deps import AdminOnly, ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas import Strict
from segmint.engine import account_levels, fit, scoring

router = APIRouter(prefix="/projects/{project}/scoring", tags=["scoring"])

WHERE_EXAMPLE = {"field": "path", "op": "contains", "value": "/pricing"}


class RuleIn(Strict):
    event_type: str = Field(max_length=100, examples=["page_view"])
    points: float = Field(examples=[10])
    where: Any = Field(None, examples=[WHERE_EXAMPLE], description="Over the event's metadata.")
    cap: float | None = Field(None, description="At most this many points from the rule.")
    decay: str = Field("none", description="none, halve (every decay_days) or expire (after).")
    decay_days: int | None = Field(None, examples=[30])


class RuleUpdate(Strict):
    event_type: str | None = Field(None, max_length=100)
    points: float | None = None
    where: Any = None
    cap: float | None = None
    decay: str | None = None
    decay_days: int | None = None


class RuleOut(BaseModel):
    id: int
    event_type: str
    points: float
    where: Any
    cap: float | None
    decay: str
    decay_days: int | None


class Level(BaseModel):
    name: str = Field(examples=["Hot"])
    min: float = Field(examples=[50])


class LevelCount(Level):
    count: int = Field(description="Leads whose stored score falls in the band.")


class LevelsIn(Strict):
    levels: list[Level]


class FitRuleIn(Strict):
    name: str = Field(max_length=255, examples=["Mid-market and up"])
    filter: Any = Field(
        examples=[{"field": "enrichment.company.size", "op": "gte", "value": 50}],
        description="A filter over lead and account fields.",
    )
    points: float = Field(examples=[30])


class FitRuleUpdate(Strict):
    name: str | None = Field(None, max_length=255)
    filter: Any = None
    points: float | None = None


class FitRuleOut(BaseModel):
    id: int
    name: str
    filter: Any
    points: float


class Scoring(BaseModel):
    rules: list[RuleOut]
    levels: list[LevelCount]
    fit_rules: list[FitRuleOut]
    fit_levels: list[LevelCount] = Field(description="Counts by the leads' profile_level now.")
    account_rollup: str = Field(description="max or sum: how accounts combine their leads.")
    rescoring: bool = Field(description="True while every lead is being rescored after a change.")


class RollupIn(Strict):
    account_rollup: str = Field(examples=["sum"])


def _levels(bands: scoring.Levels) -> list[dict[str, Any]]:
    return [{"name": name, "min": low} for name, low in bands]


@router.get("", response_model=Scoring, summary="Rules, levels and how many leads each holds")
def get_scoring(conn: ConnectionDep, project: ProjectDep, _principal: PrincipalDep) -> Scoring:
    bands = scoring.levels(conn, project)
    return Scoring.model_validate(
        {
            "rules": [r.public() for r in scoring.list_rules(conn, project)],
            "levels": scoring.level_counts(conn, project, bands),
            "fit_rules": [r.public() for r in fit.list_rules(conn, project)],
            "fit_levels": fit.level_counts(conn, project),
            "account_rollup": account_levels.rollup(conn, project),
            "rescoring": scoring.rescoring(conn, project),
        }
    )


@router.post(
    "/rules",
    response_model=RuleOut,
    status_code=201,
    dependencies=[AdminOnly],
    summary="Add a rule; every lead is rescored by the worker",
)
def create_rule(body: RuleIn, conn: ConnectionDep, project: ProjectDep, clock: ClockDep) -> RuleOut:
    rule = scoring.create_rule(conn, project, body.model_dump(), clock)
    return RuleOut.model_validate(rule.public())


@router.patch("/rules/{rule_id}", response_model=RuleOut, dependencies=[AdminOnly])
def update_rule(
    rule_id: int, body: RuleUpdate, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> RuleOut:
    changes = body.model_dump(exclude_unset=True)
    return RuleOut.model_validate(
        scoring.update_rule(conn, project, rule_id, changes, clock).public()
    )


@router.delete("/rules/{rule_id}", status_code=204, dependencies=[AdminOnly])
def delete_rule(
    rule_id: int, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> Response:
    scoring.delete_rule(conn, project, rule_id, clock)
    return Response(status_code=204)


@router.put(
    "/levels",
    response_model=list[Level],
    dependencies=[AdminOnly],
    summary="Replace the engagement levels (bands, lowest first, the first from 0)",
)
def set_levels(
    body: LevelsIn, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> list[Level]:
    data = [band.model_dump() for band in body.levels]
    bands = scoring.set_levels(conn, project, data, clock)
    return [Level.model_validate(b) for b in _levels(bands)]


@router.post(
    "/levels/preview",
    response_model=list[LevelCount],
    summary="How many leads proposed levels would hold, by the stored scores",
)
def preview_levels(
    body: LevelsIn, conn: ConnectionDep, project: ProjectDep, _principal: PrincipalDep
) -> list[LevelCount]:
    bands = scoring.checked_levels([band.model_dump() for band in body.levels])
    return [LevelCount.model_validate(c) for c in scoring.level_counts(conn, project, bands)]


@router.post(
    "/fit-rules",
    response_model=FitRuleOut,
    status_code=201,
    dependencies=[AdminOnly],
    summary="Add a profile fit rule; every lead is refitted by the worker",
)
def create_fit_rule(
    body: FitRuleIn, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> FitRuleOut:
    return FitRuleOut.model_validate(
        fit.create_rule(conn, project, body.model_dump(), clock).public()
    )


@router.patch("/fit-rules/{rule_id}", response_model=FitRuleOut, dependencies=[AdminOnly])
def update_fit_rule(
    rule_id: int, body: FitRuleUpdate, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> FitRuleOut:
    changes = body.model_dump(exclude_unset=True)
    return FitRuleOut.model_validate(
        fit.update_rule(conn, project, rule_id, changes, clock).public()
    )


@router.delete("/fit-rules/{rule_id}", status_code=204, dependencies=[AdminOnly])
def delete_fit_rule(
    rule_id: int, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> Response:
    fit.delete_rule(conn, project, rule_id, clock)
    return Response(status_code=204)


@router.put(
    "/fit-levels",
    response_model=list[Level],
    dependencies=[AdminOnly],
    summary="Replace the fit levels (default Poor Fit 0, Good Fit 25, Strong Fit 50)",
)
def set_fit_levels(
    body: LevelsIn, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> list[Level]:
    bands = fit.set_levels(conn, project, [band.model_dump() for band in body.levels], clock)
    return [Level.model_validate(b) for b in _levels(bands)]


@router.put(
    "/account-rollup",
    response_model=RollupIn,
    dependencies=[AdminOnly],
    summary="How accounts combine their leads' scores: max (default) or sum",
)
def set_account_rollup(
    body: RollupIn, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> RollupIn:
    value = account_levels.set_rollup(conn, project, body.account_rollup, clock.now())
    return RollupIn(account_rollup=value)


@router.post(
    "/fit-levels/preview",
    response_model=list[LevelCount],
    summary="How many leads proposed fit levels would hold, by today's fit rules",
)
def preview_fit_levels(
    body: LevelsIn,
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    clock: ClockDep,
) -> list[LevelCount]:
    bands = scoring.checked_levels([band.model_dump() for band in body.levels])
    counts = fit.preview_counts(conn, project, bands, clock.now())
    return [LevelCount.model_validate(c) for c in counts]
