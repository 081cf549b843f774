"""Typed rows: what a `SELECT table` gives back, as a frozen dataclass, for the rows the engine
hands around (a segment, a lead, a campaign...). A row of SQLAlchemy Core is typed `Any` column
by column; these name each column's Python type, so mypy checks what callers read.

Each class has exactly its table's columns (tests/store/test_rows.py compares them with
tables.py), so a column added by a migration fails loudly here rather than going unseen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

import sqlalchemy as sa


class Record:
    @classmethod
    def of(cls, row: sa.Row[Any]) -> Self:
        """The record of a result row whose columns are exactly this record's fields."""
        return cls(**row._mapping)


@dataclass(frozen=True)
class SegmentRow(Record):
    id: int
    project_id: int
    name: str
    description: str
    color: str
    filter: dict[str, Any]
    active: bool
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    last_evaluated_at: datetime | None
    version: int
    time_synced_at: datetime | None
    audience: str

    @property
    def maintained(self) -> bool:
        """Whether the lead machinery (engine/membership.py) keeps its stored membership: an
        active lead segment. An active account segment's is kept by
        engine/account_membership.py, in tables of its own (docs/decisions.md)."""
        return self.active and self.audience == "leads"


@dataclass(frozen=True)
class SegmentWithCreator(SegmentRow):
    """A segment as listed and shown: with its creator's email (null once they are gone)."""

    created_by_email: str | None


@dataclass(frozen=True)
class LeadRow(Record):
    id: int
    project_id: int
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    phone_type: str | None
    company: str | None
    job_title: str | None
    status: str | None
    source: str | None
    owner: str | None
    tags: list[str]
    country: str | None
    language: str | None
    priority: str | None
    group_name: str | None
    engagement_score: float
    max_score: float
    engagement_level: str | None
    profile_level: str | None
    custom: dict[str, Any]
    enrichment: dict[str, Any] | None
    account_id: int | None
    created_at: datetime
    updated_at: datetime
    last_contacted_at: datetime | None
    last_activity_at: datetime | None


@dataclass(frozen=True)
class AccountRow(Record):
    id: int
    project_id: int
    name: str
    domain: str | None
    metadata: dict[str, Any]
    engagement_level: str | None
    profile_level: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ListRow(Record):
    id: int
    project_id: int
    name: str
    description: str
    filter: dict[str, Any] | None
    source_segment_id: int | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class WebhookRow(Record):
    id: int
    project_id: int
    url: str
    events: list[str]
    segment_id: int | None
    description: str
    secret: str
    active: bool
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    consecutive_failures: int
    next_attempt_at: datetime | None
    leased_by: str | None
    leased_until: datetime | None


@dataclass(frozen=True)
class CampaignRow(Record):
    id: int
    project_id: int
    name: str
    description: str
    state: str
    include_segments: list[int]
    exclude_segments: list[int]
    include_lists: list[int]
    exclude_lists: list[int]
    filter: dict[str, Any] | None
    channel: str
    subject: str
    body: str
    webhook_url: str | None
    webhook_secret: str | None
    schedule: str
    send_at: datetime | None
    cron: str | None
    timezone: str
    next_run_at: datetime | None
    resend: str
    resend_after_days: int | None
    trigger: dict[str, Any] | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CampaignWithCreator(CampaignRow):
    """A campaign as listed and shown: with its creator's email."""

    created_by_email: str | None


@dataclass(frozen=True)
class CampaignRunRow(Record):
    id: int
    project_id: int
    campaign_id: int
    scheduled_for: datetime
    kind: str
    created_by: int | None
    created_at: datetime
    state: str
    error: str | None
    frozen_at: datetime | None
    finished_at: datetime | None
    audience: int | None
    skipped_already_sent: int | None
    skipped_unsubscribed: int | None
    skipped_no_email: int | None
    skipped_capped: int | None
    skipped_membership: int | None
    consecutive_failures: int
    next_attempt_at: datetime | None
    leased_by: str | None
    leased_until: datetime | None


@dataclass(frozen=True)
class RecipientRow(Record):
    id: int
    project_id: int
    campaign_id: int
    run_id: int
    lead_id: int
    email: str | None
    state: str
    attempts: int
    next_attempt_at: datetime | None
    leased_by: str | None
    leased_until: datetime | None
    last_error: str | None
    sent_at: datetime | None


@dataclass(frozen=True)
class RecipientWithCampaign(RecipientRow):
    """A recipient as a tracking link names it: with its campaign's name."""

    campaign_name: str


@dataclass(frozen=True)
class BulkActionRow(Record):
    id: int
    project_id: int
    action: str
    params: dict[str, Any]
    selection: dict[str, Any]
    state: str
    total: int
    processed: int
    changed: int
    last_lead_id: int
    max_lead_id: int
    error: str | None
    created_by: int | None
    created_by_email: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
