"""Campaigns: targeting, templates, schedules, runs and their recipients."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from segmint.api.schemas.common import FILTER_EXAMPLE, Strict
from segmint.api.schemas.leads import LeadPublic


class TargetingIn(Strict):
    include_segments: list[int] = Field(default_factory=list, description="A union of segments.")
    exclude_segments: list[int] = Field(default_factory=list)
    include_lists: list[int] = Field(default_factory=list)
    exclude_lists: list[int] = Field(default_factory=list)
    filter: Any = Field(
        None, description="Narrows the audience further.", examples=[FILTER_EXAMPLE]
    )


class ScheduleIn(Strict):
    kind: Literal["manual", "once", "cron"] = "manual"
    send_at: str | None = Field(
        None, description="For `once`: ISO date-time; without an offset, in `timezone`."
    )
    cron: str | None = Field(None, examples=["0 10 * * 1-5"], description="For `cron`.")
    timezone: str | None = Field(None, description="Default: the project's time zone.")


class ResendIn(Strict):
    policy: Literal["never", "every_run", "after_days"] = "never"
    after_days: int | None = None


class CapIn(Strict):
    max: int = Field(description="At most this many sends of the campaign per lead ...")
    per_days: int = Field(description="... in this many days (runs of any kind count).")


class TriggerIn(Strict):
    """Send the campaign to each lead that enters (or exits) a segment, once per entry."""

    on: Literal["enter", "exit"]
    segment_id: int = Field(description="An active segment of this project.")
    delay_minutes: int = Field(0, description="Wait this long after the entry or exit.")
    only_if_still_member: bool = Field(
        True,
        description="When due, send only if the lead is still in the segment (for `exit`: "
        "still out of it).",
    )
    cap: CapIn | None = None


CampaignState = Literal["draft", "scheduled", "paused"]
Channel = Literal["email", "webhook"]


class CampaignCreate(Strict):
    name: str = Field(max_length=255, examples=["Welcome new enriched leads"])
    description: str = Field("", max_length=500)
    targeting: TargetingIn | None = Field(
        None, description="Required, except with a trigger: then its segment by default."
    )
    trigger: TriggerIn | None = None
    channel: Channel = "email"
    subject: str = Field("", examples=["Welcome, {{ lead.first_name | default('there') }}"])
    body: str = Field("", examples=["Hi {{ lead.first_name }},\n\nThanks for signing up."])
    webhook_url: str | None = Field(None, max_length=2000)
    schedule: ScheduleIn | None = None
    resend: ResendIn | None = None
    state: CampaignState = "draft"


class CampaignUpdate(Strict):
    name: str | None = Field(None, max_length=255)
    description: str | None = Field(None, max_length=500)
    targeting: TargetingIn | None = None
    channel: Channel | None = None
    subject: str | None = None
    body: str | None = None
    webhook_url: str | None = Field(None, max_length=2000)
    schedule: ScheduleIn | None = None
    resend: ResendIn | None = None
    trigger: TriggerIn | None = Field(None, description="`null` removes the trigger.")
    state: CampaignState | None = None


class TargetingPublic(BaseModel):
    include_segments: list[int]
    exclude_segments: list[int]
    include_lists: list[int]
    exclude_lists: list[int]
    filter: Any


class SchedulePublic(BaseModel):
    kind: str
    send_at: datetime | None
    cron: str | None
    timezone: str


class ResendPublic(BaseModel):
    policy: str
    after_days: int | None


class CapPublic(BaseModel):
    max: int
    per_days: int


class TriggerPublic(BaseModel):
    on: str
    segment_id: int
    segment_name: str | None = Field(description="The segment's name; null once it is deleted.")
    delay_minutes: int
    only_if_still_member: bool
    cap: CapPublic | None


class Problem(BaseModel):
    path: str
    message: str


class RunPublic(BaseModel):
    id: int
    campaign_id: int
    kind: str = Field(description="`schedule`, `manual` or `trigger` (sends due together).")
    scheduled_for: datetime
    created_at: datetime
    state: str = Field(description="pending, sending, done or error.")
    error: str | None
    frozen_at: datetime | None
    finished_at: datetime | None
    audience: int | None = Field(description="Leads targeted when the run was frozen.")
    skipped_already_sent: int | None
    skipped_unsubscribed: int | None
    skipped_no_email: int | None
    skipped_capped: int | None = Field(description="Triggered: over the frequency cap.")
    skipped_membership: int | None = Field(
        description="Triggered: no longer in the segment (still in it, for an exit), or deleted."
    )
    recipients: int
    sent: int
    failed: int
    unconfirmed: int = Field(description="The sender stopped mid-transmission; not resent.")
    queued: int
    next_attempt_at: datetime | None
    consecutive_failures: int


class CampaignPublic(BaseModel):
    id: int
    name: str
    description: str
    state: str = Field(description="draft, scheduled, paused or finished.")
    status: str = Field(description="`error` when the campaign has a problem, else `state`.")
    problems: list[Problem]
    targeting: TargetingPublic
    channel: str
    subject: str
    body: str
    webhook_url: str | None
    webhook_secret_hint: str | None
    schedule: SchedulePublic
    resend: ResendPublic
    trigger: TriggerPublic | None
    pending_sends: int = Field(description="Triggered sends waiting for their moment.")
    next_run_at: datetime | None
    created_by: int | None
    created_by_email: str | None
    created_at: datetime
    updated_at: datetime
    last_run: RunPublic | None


class CampaignWithSecret(CampaignPublic):
    webhook_secret: str = Field(description="Signs the webhook channel's POSTs; shown here only.")


class CampaignList(BaseModel):
    items: list[CampaignPublic]


class AudienceIn(Strict):
    targeting: TargetingIn
    channel: Channel = "email"
    campaign_id: int | None = Field(
        None, description="While editing a saved campaign: skip the leads it already sent to."
    )
    resend: ResendIn | None = Field(None, description="The policy that counts them.")


class Skipped(BaseModel):
    already_sent: int
    unsubscribed: int
    no_email: int


class Audience(BaseModel):
    count: int = Field(description="Leads a run now would send to.")
    matching: int = Field(description="Leads the targeting matches, before skips.")
    skipped: Skipped
    sample: list[LeadPublic]
    problems: list[Problem]
    evaluated_at: datetime


class RenderIn(Strict):
    subject: str = ""
    body: str = ""
    lead_id: int | None = Field(None, description="Default: the newest lead.")


class RenderedMessage(BaseModel):
    subject: str
    html: str
    text: str
    lead_id: int | None


class RunPage(BaseModel):
    items: list[RunPublic]
    next_before: int | None


class RecipientPublic(BaseModel):
    id: int
    lead_id: int
    email: str | None
    name: str
    state: str = Field(description="queued, sending, sent, failed or unconfirmed.")
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    next_attempt_at: datetime | None


class RecipientPage(BaseModel):
    items: list[RecipientPublic]
    next_after: int | None
