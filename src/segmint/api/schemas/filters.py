"""The filter language as a service: a filter in, its text form out, and back."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from segmint.api.schemas.common import FILTER_EXAMPLE, Strict


class FilterIn(Strict):
    filter: Any = Field(examples=[FILTER_EXAMPLE])


class TextIn(Strict):
    text: str = Field(examples=['status = "new" and performed "trial_signup" within 14 days'])


class ParsedFilter(BaseModel):
    filter: Any = Field(examples=[FILTER_EXAMPLE])
    text: str
    words: dict[str, Any] = Field(
        description="The tree in words: each condition's field and operator labels, each "
        "referenced segment's and list's name (null once deleted)."
    )
