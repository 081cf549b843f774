"""Membership history: who entered and left a segment, when and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class HistoryEntryPublic(BaseModel):
    id: int
    segment_id: int
    lead_id: int
    change: Literal["entered", "exited"]
    at: datetime
    segment_version: int
    reason: str = Field(
        description=(
            "lead_write, event, filter_edit, activation, created, dependency, time, settings,"
            " refresh, manual (a lead included or excluded by hand) or account_write (an"
            " account segment's account created or edited)"
        )
    )
    detail: str | None = None
    segment_name: str | None = None
    lead_name: str | None = Field(
        default=None, description="The lead's name now (a segment's history only)"
    )
    lead_email: str | None = Field(
        default=None, description="The lead's email now; null with the name once it is deleted"
    )


class HistoryPage(BaseModel):
    items: list[HistoryEntryPublic]
    next_after: int | None = Field(
        default=None, description="Pass as `after` for the next page; null at the end."
    )


def history_page(items: list[dict[str, Any]], limit: int) -> HistoryPage:
    next_after = items[-1]["id"] if len(items) == limit else None
    return HistoryPage(
        items=[HistoryEntryPublic.model_validate(i) for i in items], next_after=next_after
    )


class AccountHistoryEntryPublic(BaseModel):
    """A row of an account segment's history: an account entered or left."""

    id: int
    segment_id: int
    account_id: int
    change: Literal["entered", "exited"]
    at: datetime
    segment_version: int
    reason: str
    detail: str | None = None
    account_name: str | None = Field(
        default=None, description="The account's name now; null once it is deleted"
    )
    account_domain: str | None = None


class AccountHistoryPage(BaseModel):
    items: list[AccountHistoryEntryPublic]
    next_after: int | None = Field(
        default=None, description="Pass as `after` for the next page; null at the end."
    )


def account_history_page(items: list[dict[str, Any]], limit: int) -> AccountHistoryPage:
    next_after = items[-1]["id"] if len(items) == limit else None
    return AccountHistoryPage(
        items=[AccountHistoryEntryPublic.model_validate(i) for i in items], next_after=next_after
    )
