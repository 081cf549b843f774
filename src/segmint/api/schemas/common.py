"""What every request body shares."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from segmint.storable import check_storable

BULK_MAX = 10_000  # rows in one bulk request

FILTER_EXAMPLE: dict[str, Any] = {
    "and": [
        {"field": "status", "op": "in", "value": ["new", "contacted"]},
        {"field": "enrichment.company.size", "op": "gte", "value": 50},
        {"event": "trial_signup", "within_days": 14},
    ]
}


class Strict(BaseModel):
    """Every request body: unknown keys refused, and no text the databases cannot store."""

    model_config = ConfigDict(extra="forbid")
    # Lists of rows that the engine validates one by one, so a bad row fails alone.
    per_row_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        # InvalidInput passes through pydantic to the API's handler: a 422 naming the path.
        if isinstance(data, dict):
            check_storable({k: v for k, v in data.items() if k not in cls.per_row_fields})
        return data


class UserRef(BaseModel):
    """An object that uses another: deleting the used one breaks or changes it."""

    id: int
    name: str


class UsagePublic(BaseModel):
    """What uses a segment or a list."""

    segments: list[UserRef] = Field(description="Segments whose filter refers to it.")
    campaigns: list[UserRef] = Field(description="Campaigns that target, exclude or filter by it.")
    lists: list[UserRef] = Field(description="Lists whose refresh filter refers to it.")

    @classmethod
    def of(cls, usage: Any) -> UsagePublic:
        def refs(users: list[Any]) -> list[UserRef]:
            return [UserRef(id=user.id, name=user.name) for user in users]

        return cls(
            segments=refs(usage.segments), campaigns=refs(usage.campaigns), lists=refs(usage.lists)
        )
