"""Webhooks: membership changes POSTed to a URL, and the log of their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from segmint.api.schemas.common import Strict

WebhookEvent = Literal["segment.entered", "segment.exited"]
ALL_WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = ("segment.entered", "segment.exited")


class WebhookCreate(Strict):
    url: str = Field(max_length=2000, examples=["https://crm.example.com/hooks/segmint"])
    events: list[WebhookEvent] = Field(
        default_factory=lambda: list(ALL_WEBHOOK_EVENTS), min_length=1
    )
    segment_id: int | None = Field(None, description="Only this segment's changes; null: all.")
    description: str = Field("", max_length=500)
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=128,
        description="Signs every delivery; generated (and shown once) when omitted.",
    )
    active: bool = True


class WebhookUpdate(Strict):
    url: str | None = Field(None, max_length=2000)
    events: list[WebhookEvent] | None = Field(None, min_length=1)
    segment_id: int | None = None
    description: str | None = Field(None, max_length=500)
    active: bool | None = None


class WebhookPublic(BaseModel):
    id: int
    url: str
    events: list[str]
    segment_id: int | None
    description: str
    active: bool
    secret_hint: str = Field(description="The secret's first characters, to tell secrets apart.")
    created_at: datetime
    updated_at: datetime
    pending: int = Field(description="Changes queued and not yet acknowledged by the receiver.")
    consecutive_failures: int
    next_attempt_at: datetime | None = Field(
        description="While failing: when the next attempt is due (exponential backoff)."
    )


class WebhookWithSecret(WebhookPublic):
    secret: str = Field(description="Shown only when created or rotated: keep it safe.")


class WebhookList(BaseModel):
    items: list[WebhookPublic]


class WebhookAttemptPublic(BaseModel):
    id: int
    attempted_at: datetime
    duration_ms: int
    succeeded: bool
    status_code: int | None
    error: str | None
    history_ids: list[int] = Field(
        description="The lead segments' membership changes the batch carried."
    )
    account_history_ids: list[int] = Field(
        description="The account segments' membership changes the batch carried (their "
        "history numbers its rows apart from the lead segments')."
    )


class WebhookAttemptPage(BaseModel):
    items: list[WebhookAttemptPublic]
    next_before: int | None = Field(
        default=None, description="Pass as `before` for older attempts; null at the end."
    )
