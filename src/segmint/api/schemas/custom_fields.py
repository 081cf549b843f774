"""Custom field definitions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from segmint.api.schemas.common import Strict


class CustomFieldCreate(Strict):
    key: str = Field(examples=["plan"], description="Lower-case letters, digits and '_'.")
    label: str | None = Field(None, examples=["Plan"])
    type: Literal["text", "number", "date", "boolean", "select"] = "text"
    options: list[str] | None = Field(None, examples=[["free", "pro", "enterprise"]])


class CustomFieldPublic(BaseModel):
    key: str
    label: str
    type: str
    options: list[str]


class CustomFieldList(BaseModel):
    items: list[CustomFieldPublic]
