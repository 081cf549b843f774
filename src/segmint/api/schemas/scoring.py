"""Engagement scoring and profile fit: rules, levels, and how accounts roll scores up."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from segmint.api.schemas.common import Strict

WHERE_EXAMPLE = {"field": "path", "op": "contains", "value": "/pricing"}


class ScoringRuleCreate(Strict):
    event_type: str = Field(max_length=100, examples=["page_view"])
    points: float = Field(examples=[10])
    where: Any = Field(None, examples=[WHERE_EXAMPLE], description="Over the event's metadata.")
    cap: float | None = Field(None, description="At most this many points from the rule.")
    decay: str = Field("none", description="none, halve (every decay_days) or expire (after).")
    decay_days: int | None = Field(None, examples=[30])


class ScoringRuleUpdate(Strict):
    event_type: str | None = Field(None, max_length=100)
    points: float | None = None
    where: Any = None
    cap: float | None = None
    decay: str | None = None
    decay_days: int | None = None


class ScoringRulePublic(BaseModel):
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


class FitRuleCreate(Strict):
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


class FitRulePublic(BaseModel):
    id: int
    name: str
    filter: Any
    points: float


class Scoring(BaseModel):
    rules: list[ScoringRulePublic]
    levels: list[LevelCount] = Field(description="Counts by the leads' engagement_level now.")
    unleveled: int = Field(description="Leads with no engagement_level (not yet scored).")
    fit_rules: list[FitRulePublic]
    fit_levels: list[LevelCount] = Field(description="Counts by the leads' profile_level now.")
    fit_unleveled: int = Field(description="Leads with no profile_level (not yet fitted).")
    account_rollup: str = Field(description="max or sum: how accounts combine their leads.")
    rescoring: bool = Field(description="True while every lead is being rescored after a change.")


class AccountRollupUpdate(Strict):
    account_rollup: str = Field(examples=["sum"])


class AccountRollupPublic(BaseModel):
    account_rollup: str = Field(examples=["sum"])
