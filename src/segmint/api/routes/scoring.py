"""Engagement scoring: rules and levels (owners and admins change them), level counts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from segmint.api.deps import AdminOnly, ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.scoring import (
    AccountRollupPublic,
    AccountRollupUpdate,
    FitRuleCreate,
    FitRulePublic,
    FitRuleUpdate,
    Level,
    LevelCount,
    LevelsIn,
    Scoring,
    ScoringRuleCreate,
    ScoringRulePublic,
    ScoringRuleUpdate,
)
from segmint.engine import account_levels, fit, scoring

router = APIRouter(prefix="/projects/{project}/scoring", tags=["scoring"])


def _levels(bands: scoring.Levels) -> list[dict[str, Any]]:
    return [{"name": name, "min": low} for name, low in bands]


@router.get("", response_model=Scoring, summary="Rules, levels and how many leads each holds")
def get_scoring(conn: ConnectionDep, project: ProjectDep, _principal: PrincipalDep) -> Scoring:
    engagement = scoring.held_levels(conn, project)
    fitness = fit.held_levels(conn, project)
    return Scoring.model_validate(
        {
            "rules": [r.public() for r in scoring.list_rules(conn, project)],
            "levels": engagement.counts,
            "unleveled": engagement.unleveled,
            "fit_rules": [r.public() for r in fit.list_rules(conn, project)],
            "fit_levels": fitness.counts,
            "fit_unleveled": fitness.unleveled,
            "account_rollup": account_levels.rollup(conn, project),
            "rescoring": scoring.rescoring(conn, project),
        }
    )


@router.post(
    "/rules",
    response_model=ScoringRulePublic,
    status_code=201,
    dependencies=[AdminOnly],
    summary="Add a rule; every lead is rescored by the worker",
)
def create_rule(
    body: ScoringRuleCreate, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> ScoringRulePublic:
    rule = scoring.create_rule(conn, project, body.model_dump(), clock)
    return ScoringRulePublic.model_validate(rule.public())


@router.patch("/rules/{rule_id}", response_model=ScoringRulePublic, dependencies=[AdminOnly])
def update_rule(
    rule_id: int, body: ScoringRuleUpdate, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> ScoringRulePublic:
    changes = body.model_dump(exclude_unset=True)
    return ScoringRulePublic.model_validate(
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
    response_model=FitRulePublic,
    status_code=201,
    dependencies=[AdminOnly],
    summary="Add a profile fit rule; every lead is refitted by the worker",
)
def create_fit_rule(
    body: FitRuleCreate, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> FitRulePublic:
    return FitRulePublic.model_validate(
        fit.create_rule(conn, project, body.model_dump(), clock).public()
    )


@router.patch("/fit-rules/{rule_id}", response_model=FitRulePublic, dependencies=[AdminOnly])
def update_fit_rule(
    rule_id: int, body: FitRuleUpdate, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> FitRulePublic:
    changes = body.model_dump(exclude_unset=True)
    return FitRulePublic.model_validate(
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
    response_model=AccountRollupPublic,
    dependencies=[AdminOnly],
    summary="How accounts combine their leads' scores: max (default) or sum",
)
def set_account_rollup(
    body: AccountRollupUpdate, conn: ConnectionDep, project: ProjectDep, clock: ClockDep
) -> AccountRollupPublic:
    value = account_levels.set_rollup(conn, project, body.account_rollup, clock.now())
    return AccountRollupPublic(account_rollup=value)


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
