"""Projects of the organization: create, rename, delete (owners and admins)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from segmint.api.schemas.common import Strict

SLUG_HELP = "1-64 lower-case letters, digits and '-', starting with a letter or digit."


class ProjectPublic(BaseModel):
    slug: str = Field(examples=["emea-sales"])
    name: str = Field(examples=["EMEA sales"])
    timezone: str = Field(examples=["Europe/Paris"])


class ProjectList(BaseModel):
    items: list[ProjectPublic]


class ProjectCreate(Strict):
    slug: str = Field(description=SLUG_HELP, examples=["emea-sales"])
    name: str | None = Field(None, description="Default: the slug.", examples=["EMEA sales"])
    timezone: str = Field("UTC", max_length=64, examples=["Europe/Paris"])


class ProjectUpdate(Strict):
    name: str | None = Field(None, examples=["EMEA sales"])
    slug: str | None = Field(
        None,
        description=SLUG_HELP + " Addresses naming the old slug stop working; tokens do not.",
    )
