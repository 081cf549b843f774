"""Request and response shapes (pydantic), named Thing{Create,Update,Public}.

Value rules (email syntax, the project's statuses, custom field types) live in the engine and
are shared with imports; these models fix the JSON shape and document it in OpenAPI.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from segmint.engine.paging import MAX_PER_PAGE
from segmint.ingest.batches import RowError
from segmint.storable import check_storable

BULK_MAX = 10_000


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


class LeadFields(Strict):
    email: str | None = Field(None, examples=["ada@example.com"])
    name: str | None = Field(
        None, description="Split into first and last name when those are absent."
    )
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    phone_type: Literal["mobile", "landline", "unknown"] | None = None
    company: str | None = None
    job_title: str | None = None
    status: str | None = Field(None, description="One of the project's statuses.", examples=["new"])
    source: str | None = Field(None, examples=["apollo_search"])
    owner: str | None = Field(None, description="Email of the user the lead is assigned to.")
    tags: list[str] | None = None
    country: str | None = None
    language: str | None = None
    priority: str | None = None
    group_name: str | None = None
    engagement_score: float | None = None
    max_score: float | None = None
    engagement_level: str | None = None
    profile_level: str | None = None
    account_id: int | None = None
    created_at: datetime | None = None
    last_contacted_at: datetime | None = None
    last_activity_at: datetime | None = None
    custom: dict[str, Any] | None = Field(None, description="Keys declared as custom fields.")
    enrichment: dict[str, Any] | None = None


class LeadCreate(LeadFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.com",
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "company": "Analytical Engines",
                    "job_title": "CTO",
                    "status": "new",
                    "tags": ["vip"],
                    "enrichment": {"company": {"size": 120, "industry": "SaaS"}},
                }
            ]
        },
    )


class LeadUpdate(LeadFields):
    """Only the fields sent change; an explicit null clears a field."""


class LeadPublic(BaseModel):
    id: int
    email: str | None
    name: str | None
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


class LeadPage(BaseModel):
    items: list[LeadPublic]
    total: int
    page: int
    per_page: int = Field(le=MAX_PER_PAGE)
    frozen: bool = Field(
        default=False, description="True for an inactive segment: its kept, unchanging members."
    )


class LeadBulk(Strict):
    leads: list[dict[str, Any]] = Field(
        max_length=BULK_MAX,
        description="Lead objects (the fields of LeadCreate); each is validated on its own.",
        examples=[[{"email": "ada@example.com", "status": "new"}, {"email": "bad"}]],
    )
    on_conflict: Literal["update", "skip"] = "update"
    per_row_fields = ("leads",)


class RowErrorPublic(BaseModel):
    index: int
    message: str


def row_errors(errors: list[RowError]) -> list[RowErrorPublic]:
    """Errors in request order (validation errors come before write errors otherwise)."""
    ordered = sorted(errors, key=lambda e: e.location)
    return [RowErrorPublic(index=e.location, message=e.message) for e in ordered]


class LeadBulkResult(BaseModel):
    created: int
    updated: int
    skipped: int
    errors: list[RowErrorPublic]


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


class LeadEvent(BaseModel):
    id: int
    type: str
    occurred_at: datetime
    metadata: dict[str, Any]


class LeadEventsPage(BaseModel):
    items: list[LeadEvent]
    next_before: int | None = Field(
        default=None, description="Pass as `before` for older events; null at the end."
    )


class CustomFieldCreate(Strict):
    key: str = Field(examples=["plan"], description="Lower-case letters, digits and '_'.")
    label: str | None = Field(None, examples=["Plan"])
    type: Literal["text", "number", "date", "boolean", "select"] = "text"
    options: list[str] | None = Field(None, examples=[["free", "pro", "enterprise"]])


class CustomFieldPublic(BaseModel):
    key: str
    label: str
    type: str
    options: list[str]


class CustomFieldList(BaseModel):
    items: list[CustomFieldPublic]


class AccountCreate(Strict):
    name: str = Field(min_length=1, max_length=255, examples=["Acme Inc."])
    domain: str | None = Field(None, max_length=255, examples=["acme.com"])
    metadata: dict[str, Any] = Field(default_factory=dict, examples=[{"tier": "A"}])
    engagement_level: str | None = None
    profile_level: str | None = None


class AccountUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=255)
    domain: str | None = Field(None, max_length=255)
    metadata: dict[str, Any] | None = None
    engagement_level: str | None = None
    profile_level: str | None = None


class AccountPublic(BaseModel):
    id: int
    name: str
    domain: str | None
    metadata: dict[str, Any]
    engagement_level: str | None
    profile_level: str | None
    created_at: datetime
    updated_at: datetime


class AccountPage(BaseModel):
    items: list[AccountPublic]
    total: int
    page: int
    per_page: int


FILTER_EXAMPLE: dict[str, Any] = {
    "and": [
        {"field": "status", "op": "in", "value": ["new", "contacted"]},
        {"field": "enrichment.company.size", "op": "gte", "value": 50},
        {"event": "trial_signup", "within_days": 14},
    ]
}


class SegmentCreate(Strict):
    name: str = Field(examples=["New enriched leads"], description="1 to 255 characters.")
    description: str | None = Field(None, description="At most 500 characters.")
    color: str | None = Field(None, examples=["#16a34a"], description="#rrggbb")
    filter: Any = Field(examples=[FILTER_EXAMPLE], description="A filter tree (JSON).")
    active: bool = True


class SegmentUpdate(Strict):
    name: str | None = None
    description: str | None = None
    color: str | None = None
    filter: Any = None
    active: bool | None = None


class SegmentPublic(BaseModel):
    id: int
    name: str
    description: str
    color: str
    filter: Any
    active: bool
    created_by: str | None = Field(description="The creator's email.")
    created_at: datetime
    updated_at: datetime
    last_evaluated_at: datetime | None
    version: int
    member_count: int | None = None


class SegmentList(BaseModel):
    items: list[SegmentPublic]


class FilterIn(Strict):
    filter: Any = Field(examples=[FILTER_EXAMPLE])


class Preview(BaseModel):
    count: int
    sample: list[LeadPublic]
    warnings: list[str]


class CountResult(BaseModel):
    count: int
    evaluated_at: datetime
    frozen: bool = False


class ListCreate(Strict):
    name: str = Field(min_length=1, max_length=255, examples=["Black Friday Promo Q4"])
    description: str = Field("", max_length=500)
    filter: Any = Field(None, description="Stored; applied only by refresh.")
    lead_ids: list[int] = Field(default_factory=list, max_length=10_000)


class ListUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=255)
    description: str | None = Field(None, max_length=500)
    filter: Any = None


class ListPublic(BaseModel):
    id: int
    name: str
    description: str
    filter: Any
    source_segment_id: int | None
    created_at: datetime
    updated_at: datetime
    member_count: int


class ListList(BaseModel):
    items: list[ListPublic]


class LeadIds(Strict):
    lead_ids: list[int] = Field(min_length=1, max_length=10_000, examples=[[1, 2, 3]])


class MembershipChange(BaseModel):
    changed: int
    member_count: int


class HistoryItem(BaseModel):
    id: int
    segment_id: int
    lead_id: int
    change: Literal["entered", "exited"]
    at: datetime
    segment_version: int
    reason: str = Field(
        description=(
            "lead_write, event, filter_edit, activation, created, dependency, time or settings"
        )
    )
    detail: str | None = None
    segment_name: str | None = None


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_after: int | None = Field(
        default=None, description="Pass as `after` for the next page; null at the end."
    )


def history_page(items: list[dict[str, Any]], limit: int) -> HistoryPage:
    next_after = items[-1]["id"] if len(items) == limit else None
    return HistoryPage(items=[HistoryItem.model_validate(i) for i in items], next_after=next_after)


# -- webhooks -------------------------------------------------------------------------------------

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


class WebhookAttempt(BaseModel):
    id: int
    attempted_at: datetime
    duration_ms: int
    succeeded: bool
    status_code: int | None
    error: str | None
    history_ids: list[int] = Field(description="The membership changes the batch carried.")


class WebhookAttemptPage(BaseModel):
    items: list[WebhookAttempt]
    next_before: int | None = Field(
        default=None, description="Pass as `before` for older attempts; null at the end."
    )


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


class ErrorDetail(BaseModel):
    code: str
    message: str
    path: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


# Every API route can answer these (documented so clients and schema checks expect them).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Bad request",
        401: "No valid token or session",
        403: "The role forbids it",
        404: "Not found (or another organization's)",
        409: "Conflicts with the current state",
        413: "Request body too large",
        422: "Invalid input; `path` names the bad value",
        429: "Too many requests; see Retry-After",
        503: "The database is unavailable, or the statement ran past its timeout",
    }.items()
}
