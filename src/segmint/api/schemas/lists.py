"""Static lists: frozen memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from segmint.api.schemas.common import Strict


class ListCreate(Strict):
    name: str = Field(min_length=1, max_length=255, examples=["Black Friday Promo Q4"])
    description: str = Field("", max_length=500)
    filter: Any = Field(None, description="Stored; applied only by refresh.")
    lead_ids: list[int] = Field(default_factory=list, max_length=10_000)


class ListUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=255)
    description: str | None = Field(None, max_length=500)
    filter: Any = None


class ListPublic(BaseModel):
    id: int
    name: str
    description: str
    filter: Any
    source_segment_id: int | None
    created_at: datetime
    updated_at: datetime
    member_count: int


class ListList(BaseModel):
    items: list[ListPublic]


class LeadIdsIn(Strict):
    lead_ids: list[int] = Field(min_length=1, max_length=10_000, examples=[[1, 2, 3]])


class MembershipChange(BaseModel):
    changed: int
    member_count: int
