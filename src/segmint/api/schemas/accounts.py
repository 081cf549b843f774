"""Accounts: the companies leads belong to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from segmint.api.schemas.common import Strict


class AccountCreate(Strict):
    name: str = Field(min_length=1, max_length=255, examples=["Acme Inc."])
    domain: str | None = Field(None, max_length=255, examples=["acme.com"])
    metadata: dict[str, Any] = Field(default_factory=dict, examples=[{"tier": "A"}])
    engagement_level: str | None = None
    profile_level: str | None = None


class AccountUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=255)
    domain: str | None = Field(None, max_length=255)
    metadata: dict[str, Any] | None = None
    engagement_level: str | None = None
    profile_level: str | None = None


class AccountPublic(BaseModel):
    id: int
    name: str
    domain: str | None
    metadata: dict[str, Any]
    engagement_level: str | None
    profile_level: str | None
    created_at: datetime
    updated_at: datetime


class AccountPage(BaseModel):
    items: list[AccountPublic]
    total: int
    page: int
    per_page: int
