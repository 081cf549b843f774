"""Events: recorded in bulk, read back as a lead's timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from segmint.api.schemas.common import BULK_MAX, Strict
from segmint.api.schemas.leads import RowErrorPublic


class EventsIn(Strict):
    per_row_fields = ("events",)
    events: list[dict[str, Any]] = Field(
        max_length=BULK_MAX,
        description='Objects with "lead_id" or "email", "type", "occurred_at", "metadata".',
        examples=[
            [
                {
                    "email": "ada@example.com",
                    "type": "page_view",
                    "occurred_at": "2026-11-01T09:30:00Z",
                    "metadata": {"path": "/pricing"},
                }
            ]
        ],
    )


class EventsResult(BaseModel):
    accepted: int
    errors: list[RowErrorPublic]


class EventPublic(BaseModel):
    id: int
    type: str
    occurred_at: datetime
    metadata: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventPublic]
    next_before: int | None = Field(
        default=None, description="Pass as `before` for older events; null at the end."
    )
