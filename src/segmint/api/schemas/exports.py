"""CSV exports: the columns one may hold."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ExportColumnChoice(BaseModel):
    key: str = Field(description="What `?columns=` names it by.", examples=["job_title"])
    header: str = Field(description="Its header in the CSV.", examples=["Job Title"])
    default: bool = Field(description="Whether an export without `columns` holds it.")


class ExportColumnChoices(BaseModel):
    items: list[ExportColumnChoice] = Field(description="In the order of the default export.")
