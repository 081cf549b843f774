"""Overlap: how two to four segments and lists (mixed) intersect."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from segmint.api.schemas.common import Strict

AudienceId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class OverlapIn(Strict):
    segments: list[AudienceId] = Field(
        default_factory=list,
        examples=[[12, 15]],
        description="Segment ids (active ones read live through their filter, as `in_segment`).",
    )
    lists: list[AudienceId] = Field(
        default_factory=list,
        examples=[[3]],
        description="List ids. Segments and lists together: 2 to 4.",
    )


class OverlapSetPublic(BaseModel):
    key: str = Field(description="A, B, C, D: segments first, then lists, in the order given.")
    kind: Literal["segment", "list"]
    id: int
    name: str
    color: str | None = Field(description="The segment's colour; null for a list.")
    active: bool = Field(description="False for an inactive segment (lists are always true).")
    count: int = Field(description="Leads in this set now.")
    filter: Any = Field(description="The condition that selects it: in_segment or in_list.")


class OverlapRegion(BaseModel):
    sets: list[str] = Field(description="Keys of the sets the leads are in (and in no other).")
    count: int
    filter: Any = Field(
        description="A filter that selects exactly these leads, for GET /leads?filter=..."
    )


class OverlapPair(BaseModel):
    sets: list[str] = Field(description="Two keys: leads in both, whatever else they are in.")
    count: int
    filter: Any


class OverlapResult(BaseModel):
    sets: list[OverlapSetPublic]
    regions: list[OverlapRegion] = Field(
        description="Every exact region (2^n - 1 of them, empty ones too), one-set regions first."
    )
    pairs: list[OverlapPair]
    union: int = Field(description="Leads in at least one of the sets.")
