"""Bulk actions: one action over many leads, done in the background with its progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from segmint.api.schemas.common import Strict

ActionKey = Literal[
    "include_in_segment",
    "exclude_from_segment",
    "add_to_list",
    "remove_from_list",
    "set_status",
    "set_owner",
    "add_tags",
    "remove_tags",
    "delete",
]


class BulkSelectionIn(Strict):
    """Which leads: `lead_ids` alone, or every lead matching any of `filter`, a segment's or a
    list's members, and `q` (a search in name, email and company)."""

    lead_ids: list[int] | None = Field(None, max_length=10_000, examples=[[1, 2, 3]])
    filter: Any = Field(None, description="A filter tree, as on the Leads listing.")
    segment_id: int | None = None
    list_id: int | None = None
    q: str | None = None


class BulkActionCreate(Strict):
    action: ActionKey
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="include_in_segment/exclude_from_segment: `segment_id`; "
        "add_to_list/remove_from_list: `list_id`; set_status: `status`; "
        "set_owner: `owner` (null clears); add_tags/remove_tags: `tags`; delete: none.",
        examples=[{"status": "contacted"}],
    )
    selection: BulkSelectionIn
    confirm: int | None = Field(
        None, description="To delete: the number of leads selected, as the user typed it."
    )


class BulkActionPublic(BaseModel):
    id: int
    action: str
    params: dict[str, Any]
    selection: dict[str, Any]
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    total: int = Field(description="Leads selected when the action was asked for.")
    processed: int = Field(description="Leads the action has reached so far.")
    changed: int = Field(description="Of those, how many it changed.")
    progress: float = Field(description="From 0 to 1.")
    error: str | None
    created_by: int | None
    created_by_email: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class BulkActionPage(BaseModel):
    items: list[BulkActionPublic]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page.")
