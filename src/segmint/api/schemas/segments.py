"""Segments: saved filters, their live counts and members, and their analytics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from segmint.api.schemas.common import FILTER_EXAMPLE, Strict
from segmint.api.schemas.leads import LeadPublic

TAGS = (
    "Tags organising the segment: each 1 to 50 characters, at most 20; duplicates ignoring "
    "case are dropped, and a tag the project already uses keeps its first spelling."
)
WORDS = (
    "The conditions in words (the shape of POST /filters/text's `words`); null when the "
    "caller may not evaluate the filter or it no longer loads."
)


class SegmentCreate(Strict):
    name: str = Field(examples=["New enriched leads"], description="1 to 255 characters.")
    description: str | None = Field(None, description="At most 500 characters.")
    color: str | None = Field(None, examples=["#16a34a"], description="#rrggbb")
    filter: Any = Field(examples=[FILTER_EXAMPLE], description="A filter tree (JSON).")
    active: bool = True
    tags: list[Any] | None = Field(None, examples=[["Q4", "outreach"]], description=TAGS)
    audience: Any = Field(
        None,
        examples=["accounts"],
        description="Whose segment: 'leads' (default) or 'accounts'. Fixed at creation.",
    )


class SegmentUpdate(Strict):
    name: str | None = None
    description: str | None = None
    color: str | None = None
    filter: Any = None
    active: bool | None = None
    tags: list[Any] | None = Field(None, description=TAGS + " Replaces the segment's tags.")
    audience: Any = Field(None, description="Fixed at creation: any other value is a 422.")


class SegmentPublic(BaseModel):
    id: int
    name: str
    description: str
    color: str
    filter: Any
    active: bool
    audience: str = Field(description="'leads' or 'accounts': whose segment it is.")
    created_by: str | None = Field(description="The creator's email.")
    created_at: datetime
    updated_at: datetime
    last_evaluated_at: datetime | None
    version: int
    tags: list[str] = Field(default_factory=list, description="Alphabetical, ignoring case.")
    words: dict[str, Any] | None = Field(None, description=WORDS)
    member_count: int | None = None


class SegmentList(BaseModel):
    items: list[SegmentPublic]


class Facet(BaseModel):
    value: str
    segments: int = Field(description="How many of the segments in scope it has.")


class SegmentFacets(BaseModel):
    creators: list[Facet] = Field(description="Creators' emails, alphabetically.")
    tags: list[Facet] = Field(description="Tags, alphabetically ignoring case.")


class SegmentVersionPublic(BaseModel):
    number: int = Field(
        description="1, 2, ... per segment: one per saved change of its name, "
        "description or filter."
    )
    filter_version: int = Field(
        description="The segment's `version` then (it counts filter changes only)."
    )
    name: str
    description: str
    filter: Any
    words: dict[str, Any] | None = Field(None, description=WORDS)
    restored_from: int | None = Field(description="The version this save restored, if any.")
    saved_by: str | None = Field(description="Who saved it (email); null when unknown or gone.")
    saved_at: datetime
    current: bool = Field(description="Whether this is the segment's current version.")


class SegmentVersionPage(BaseModel):
    items: list[SegmentVersionPublic] = Field(description="Newest first.")
    next_before: int | None = Field(
        default=None, description="Pass as `before` for the next page; null at the end."
    )


class Preview(BaseModel):
    count: int
    sample: list[LeadPublic]
    warnings: list[str]


class AccountMember(BaseModel):
    id: int
    name: str
    domain: str | None
    engagement_level: str | None
    profile_level: str | None
    lead_count: int = Field(description="The account's leads (all of them, not only matching).")
    created_at: datetime


class AccountMemberPage(BaseModel):
    items: list[AccountMember] = Field(description="In account id order.")
    next_after: int | None = Field(
        description="Pass as `after` for the next page; null on the last page."
    )


class AccountPreview(BaseModel):
    count: int
    sample: list[AccountMember] = Field(description="The newest few matching accounts.")


class ConditionCount(BaseModel):
    path: str = Field(description="The condition's JSON path, e.g. filter.and[1] (or .not).")
    count: int = Field(description="Leads it matches on its own, now.")


class ConditionCounts(BaseModel):
    items: list[ConditionCount]


class CountResult(BaseModel):
    count: int
    evaluated_at: datetime
    frozen: bool = False


class RefreshResult(BaseModel):
    """What a manual refresh of an inactive segment changed."""

    entered: int = Field(description="Leads that entered the stored membership.")
    exited: int = Field(description="Leads that left it.")
    member_count: int = Field(description="Stored members after the refresh.")
    refreshed_at: datetime = Field(description="The moment evaluated (now `last_evaluated_at`).")


# -- analytics ----------------------------------------------------------------------------------

ANALYTICS_EXAMPLE: dict[str, Any] = {
    "segment_id": 7,
    "frozen": False,
    "evaluated_at": "2026-11-23T10:15:00Z",
    "timezone": "Europe/Berlin",
    "days": 3,
    "member_count": 120,
    "avg_engagement_score": 41.75,
    "converted_status": "qualified",
    "converted_count": 18,
    "conversion_rate": 0.15,
    "daily": [
        {
            "day": "2026-11-21",
            "member_count": 112,
            "avg_engagement_score": 40.1,
            "entered": 4,
            "exited": 1,
        },
        {
            "day": "2026-11-22",
            "member_count": 117,
            "avg_engagement_score": 41.02,
            "entered": 6,
            "exited": 1,
        },
        {
            "day": "2026-11-23",
            "member_count": 120,
            "avg_engagement_score": 41.75,
            "entered": 3,
            "exited": 0,
        },
    ],
    "top_events": [
        {"type": "page_view", "count": 940, "members": 97},
        {"type": "email_open", "count": 310, "members": 88},
        {"type": "trial_signup", "count": 21, "members": 21},
    ],
}


class AnalyticsDay(BaseModel):
    day: date = Field(description="A local day in the project's time zone.")
    member_count: int = Field(description="Members at the end of the day (now, for today).")
    avg_engagement_score: float | None = Field(
        description="Their average engagement score, by today's scores; null with no members."
    )
    entered: int = Field(description="Leads that entered during the day.")
    exited: int = Field(description="Leads that left during the day.")


class EventTypeCount(BaseModel):
    type: str
    count: int = Field(description="Events of this type among current members in the window.")
    members: int = Field(description="Current members with at least one.")


class SegmentAnalytics(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ANALYTICS_EXAMPLE]})

    segment_id: int
    frozen: bool = Field(description="True for an inactive segment: its kept, unchanging members.")
    evaluated_at: datetime
    timezone: str = Field(description="The project's zone, which draws the day boundaries.")
    days: int
    member_count: int = Field(description="Current (stored) members.")
    avg_engagement_score: float | None = Field(description="Null when there are no members.")
    converted_status: str = Field(description="The project's converted status.")
    converted_count: int = Field(description="Members whose status is the converted one.")
    conversion_rate: float | None = Field(
        description="converted_count / member_count; null when there are no members."
    )
    daily: list[AnalyticsDay] = Field(description="One entry per day, oldest first; today last.")
    top_events: list[EventTypeCount] = Field(
        description="Up to 10 event types, most events first, then by type."
    )


class AccountAnalyticsDay(BaseModel):
    day: date = Field(description="A local day in the project's time zone.")
    member_count: int = Field(description="Member accounts at the end of the day (now, today).")
    entered: int
    exited: int


class AccountSegmentAnalytics(BaseModel):
    """An account segment's analytics: its maintained accounts and their trend, from history."""

    segment_id: int
    audience: Literal["accounts"]
    frozen: bool = Field(description="True for an inactive segment: its kept, unchanging members.")
    evaluated_at: datetime
    timezone: str = Field(description="The project's zone, which draws the day boundaries.")
    days: int
    member_count: int = Field(description="Current (stored) member accounts.")
    lead_count: int = Field(description="The leads of those accounts now.")
    daily: list[AccountAnalyticsDay] = Field(
        description="One entry per day, oldest first; today last."
    )


class ScoreDayPublic(BaseModel):
    day: date = Field(description="A local day in the project's time zone.")
    member_count: int = Field(description="Members at the end of the day (now, for today).")
    avg_score: float | None = Field(
        description="Their average score as it was then (score history); null with no members."
    )


class ScoreTrend(BaseModel):
    segment_id: int
    timezone: str
    days: list[ScoreDayPublic] = Field(description="Oldest first; today last.")


class ScoreBeforeAfter(BaseModel):
    segment_id: int
    at: datetime = Field(description="The moment compared from.")
    later_at: datetime = Field(description="`after_days` days later.")
    after_days: int
    members: int = Field(description="Current members, whose scores are compared.")
    avg_before: float | None = Field(description="Their average score at `at`.")
    avg_after: float | None = Field(description="Their average score at `later_at`.")
    change: float | None = Field(description="avg_after - avg_before.")


class ManualLeadsIn(Strict):
    lead_ids: list[int] = Field(
        min_length=1,
        max_length=10_000,
        examples=[[1, 2, 3]],
        description="Leads of this project; an unknown id is a 422 naming it.",
    )


class ManualChangePublic(BaseModel):
    """What a request to include or exclude leads (or take them off) did."""

    changed: int = Field(description="Rows written or removed (leads already so are not counted)")
    included: int = Field(description="Leads the segment now includes by hand")
    excluded: int = Field(description="Leads the segment now excludes by hand")


class ManualMemberPublic(BaseModel):
    lead_id: int
    email: str | None
    name: str | None
    company: str | None
    added_at: datetime


class ManualMemberPage(BaseModel):
    items: list[ManualMemberPublic]
    total: int = Field(description="Leads of this kind in all")
    next_after: int | None = Field(
        default=None, description="Pass as `after` for the next page; null at the end."
    )
