"""What a campaign is: its targeting, channel, templates, schedule and resend policy.

Stored as a row of `campaigns`; validated here so the API, the CLI and the UI share one set of
rules and messages (each naming the JSON path of the bad value).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from segmint.auth import Principal
from segmint.campaigns import templates
from segmint.campaigns.cron import parse_cron
from segmint.clock import as_utc
from segmint.engine import filtering
from segmint.engine.segments import check_description, check_name
from segmint.engine.webhooks import check_destination, check_url
from segmint.errors import Forbidden, InvalidInput, NotFound
from segmint.filters import SegmentSource
from segmint.model import Role
from segmint.projects import Project, check_timezone
from segmint.store.rows import CampaignWithCreator
from segmint.store.tables import campaign_trigger_sends, campaigns, lists, segments, users

STATES = ("draft", "scheduled", "paused", "finished")
SETTABLE_STATES = ("draft", "scheduled", "paused")
CHANNELS = ("email", "webhook")
SCHEDULES = ("manual", "once", "cron")
RESEND = ("never", "every_run", "after_days")
TARGET_LISTS = ("include_segments", "exclude_segments", "include_lists", "exclude_lists")
MAX_TARGETS = 50


@dataclass(frozen=True)
class Targeting:
    include_segments: tuple[int, ...] = ()
    exclude_segments: tuple[int, ...] = ()
    include_lists: tuple[int, ...] = ()
    exclude_lists: tuple[int, ...] = ()
    filter: Any = None  # the canonical JSON of a filter, or None

    @classmethod
    def of(cls, row: Any) -> Targeting:
        return cls(
            tuple(row.include_segments),
            tuple(row.exclude_segments),
            tuple(row.include_lists),
            tuple(row.exclude_lists),
            row.filter,
        )

    def public(self) -> dict[str, Any]:
        return {name: list(getattr(self, name)) for name in TARGET_LISTS} | {"filter": self.filter}


def check_targeting(
    conn: sa.Connection,
    project: Project,
    data: Any,
    reader: Principal | None,
    source: SegmentSource | None = None,
) -> Targeting:
    """Targeting from input: known segments and lists of this project, a valid filter, and at
    least one segment or list to include. Every segment must be one `reader` may read (None:
    the system), as in a filter's `in_segment`."""
    if not isinstance(data, Mapping):
        raise InvalidInput("expected an object", "targeting")
    unknown = sorted(set(data) - {*TARGET_LISTS, "filter"})
    if unknown:
        raise InvalidInput(f"unknown key {unknown[0]!r}", f"targeting.{unknown[0]}")
    # A campaign mails leads: an account segment's members are accounts, never targeted.
    known_segments = _ids(conn, segments, project, segments.c.audience == "leads")
    known_lists = _ids(conn, lists, project)
    picked: dict[str, tuple[int, ...]] = {}
    for name in TARGET_LISTS:
        known, what = (known_segments, "segment") if "segments" in name else (known_lists, "list")
        picked[name] = _check_ids(data.get(name) or [], known, what, f"targeting.{name}")
    _check_segments_readable(conn, project, picked, reader)
    if not picked["include_segments"] and not picked["include_lists"]:
        raise InvalidInput("include at least one segment or list", "targeting.include_segments")
    stored_filter = None
    if data.get("filter") is not None:
        try:
            node = filtering.validate(conn, project, data["filter"], reader=reader, source=source)
        except (InvalidInput, Forbidden) as exc:
            raise type(exc)(exc.message, _under("targeting", exc.path)) from None
        stored_filter = filtering.to_json(node)
    return Targeting(**picked, filter=stored_filter)


def check_audience_readable(
    conn: sa.Connection, project: Project, row: Any, reader: Principal
) -> None:
    """A saved campaign's audience (its preview, its runs' recipients) shows members of the
    segments it targets: a member who may not read one of them may not see it (403 naming the
    targeting path), as with a segment reached through `in_segment`."""
    targeting = Targeting.of(row)
    picked = {name: getattr(targeting, name) for name in ("include_segments", "exclude_segments")}
    _check_segments_readable(conn, project, picked, reader)
    if targeting.filter is not None:
        try:
            filtering.check_stored_readable(conn, project, reader, targeting.filter)
        except Forbidden as exc:
            raise Forbidden(exc.message, _under("targeting", exc.path)) from None


def _check_segments_readable(
    conn: sa.Connection,
    project: Project,
    picked: dict[str, tuple[int, ...]],
    reader: Principal | None,
) -> None:
    """Targeted segments go through the rule of a filter's `in_segment`."""
    if reader is None:
        return
    refs = [
        (ref, f"targeting.{name}[{i}]")
        for name in ("include_segments", "exclude_segments")
        for i, ref in enumerate(picked[name])
    ]
    filtering.check_segments_readable(conn, project, reader, refs)


def _under(prefix: str, path: str | None) -> str:
    return f"{prefix}.{path}" if path else prefix


def _ids(
    conn: sa.Connection, table: sa.Table, project: Project, *where: sa.ColumnElement[bool]
) -> set[int]:
    return set(
        conn.execute(
            sa.select(table.c.id).where(table.c.project_id == project.id, *where)
        ).scalars()
    )


def _check_ids(value: Any, known: set[int], what: str, path: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise InvalidInput(f"expected a list of {what} ids", path)
    if len(value) > MAX_TARGETS:
        raise InvalidInput(f"at most {MAX_TARGETS} {what}s", path)
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int):
            raise InvalidInput(f"expected a {what} id", f"{path}[{i}]")
        if item not in known:
            # Campaigns mail leads: an account segment is not one they can target.
            kind = "lead segment" if what == "segment" else what
            raise InvalidInput(f"no {kind} {item} in this project", f"{path}[{i}]")
    return tuple(dict.fromkeys(value))


@dataclass(frozen=True)
class Schedule:
    kind: str = "manual"
    send_at: datetime | None = None
    cron: str | None = None
    timezone: str = "UTC"

    def next_after(self, moment: datetime) -> datetime | None:
        """The first scheduled moment after `moment` (None: manual, or a once that has passed)."""
        if self.kind == "once":
            return self.send_at if self.send_at and self.send_at > moment else None
        if self.kind == "cron" and self.cron:
            return parse_cron(self.cron).next_after(moment, ZoneInfo(self.timezone))
        return None

    def public(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "send_at": self.send_at,
            "cron": self.cron,
            "timezone": self.timezone,
        }


def check_schedule(data: Any, project: Project) -> Schedule:
    if data is None:
        return Schedule(timezone=project.timezone)
    if not isinstance(data, Mapping):
        raise InvalidInput("expected an object", "schedule")
    kind = data.get("kind", "manual")
    if kind not in SCHEDULES:
        raise InvalidInput(f"expected one of {', '.join(SCHEDULES)}", "schedule.kind")
    zone = data.get("timezone") or project.timezone
    try:
        check_timezone(zone)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, "schedule.timezone") from None
    if kind == "once":
        send_at = _moment(data.get("send_at"), zone, "schedule.send_at")
        return Schedule("once", send_at=send_at, timezone=zone)
    if kind == "cron":
        expression = data.get("cron")
        if not isinstance(expression, str):
            raise InvalidInput("expected a cron expression such as '0 10 * * 1-5'", "schedule.cron")
        parse_cron(expression, "schedule.cron")
        return Schedule("cron", cron=" ".join(expression.split()), timezone=zone)
    return Schedule("manual", timezone=zone)


def _moment(value: Any, zone: str, path: str) -> datetime:
    """An ISO date-time; without an offset it is wall-clock time in the schedule's zone."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput("expected an ISO date-time like 2026-12-01T10:00", path) from None
    else:
        raise InvalidInput("expected an ISO date-time like 2026-12-01T10:00", path)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return as_utc(moment)


@dataclass(frozen=True)
class Resend:
    policy: str = "never"
    after_days: int | None = None

    def public(self) -> dict[str, Any]:
        return {"policy": self.policy, "after_days": self.after_days}


def check_resend(data: Any) -> Resend:
    if data is None:
        return Resend()
    if not isinstance(data, Mapping):
        raise InvalidInput("expected an object", "resend")
    policy = data.get("policy", "never")
    if policy not in RESEND:
        raise InvalidInput(f"expected one of {', '.join(RESEND)}", "resend.policy")
    if policy != "after_days":
        return Resend(policy)
    days = data.get("after_days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
        raise InvalidInput("expected a number of days from 1 to 3650", "resend.after_days")
    return Resend(policy, days)


TRIGGER_ON = ("enter", "exit")
TRIGGER_KEYS = ("on", "segment_id", "delay_minutes", "only_if_still_member", "cap")
MAX_DELAY_MINUTES = 365 * 24 * 60
MAX_CAP = 1000


def check_trigger(
    conn: sa.Connection,
    project: Project,
    data: Any,
    reader: Principal | None,
    *,
    inactive: bool = False,
) -> dict[str, Any] | None:
    """A campaign's trigger: entries into (or exits from) an active segment of this project
    (`inactive`: or one that was deactivated after, as an import finds it)
    that `reader` may read, an optional delay, whether the lead must still be in (or still be
    out) when it is due, and an optional cap of sends per lead per days. None: no trigger."""
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise InvalidInput("expected an object", "trigger")
    unknown = sorted(set(data) - set(TRIGGER_KEYS))
    if unknown:
        raise InvalidInput(f"unknown key {unknown[0]!r}", f"trigger.{unknown[0]}")
    on = data.get("on")
    if on not in TRIGGER_ON:
        raise InvalidInput(f"expected one of {', '.join(TRIGGER_ON)}", "trigger.on")
    segment_id = _check_trigger_segment(conn, project, data.get("segment_id"), reader, inactive)
    delay = _whole(data.get("delay_minutes", 0), 0, MAX_DELAY_MINUTES, "trigger.delay_minutes")
    still = data.get("only_if_still_member", True)
    if not isinstance(still, bool):
        raise InvalidInput("expected true or false", "trigger.only_if_still_member")
    return {
        "on": on,
        "segment_id": segment_id,
        "delay_minutes": delay,
        "only_if_still_member": still,
        "cap": _check_cap(data.get("cap")),
    }


def _check_trigger_segment(
    conn: sa.Connection, project: Project, value: Any, reader: Principal | None, inactive: bool
) -> int:
    """`inactive`: an inactive segment is accepted (one deactivated after the trigger was
    saved, in an import); else refused, as it records no entries or exits."""
    path = "trigger.segment_id"
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("expected a segment id", path)
    found = conn.execute(
        sa.select(segments.c.active, segments.c.audience).where(
            segments.c.project_id == project.id, segments.c.id == value
        )
    ).first()
    if found is None:
        raise InvalidInput(f"no segment {value} in this project", path)
    active, audience = found
    if audience != "leads":
        raise InvalidInput(
            f"segment {value} is an account segment: a campaign triggers on a lead segment", path
        )
    if not active and not inactive:
        raise InvalidInput(
            f"segment {value} is inactive: only an active segment records entries and exits", path
        )
    if reader is not None:
        filtering.check_segments_readable(conn, project, reader, [(value, path)])
    return value


def _check_cap(data: Any) -> dict[str, int] | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise InvalidInput('expected an object such as {"max": 1, "per_days": 7}', "trigger.cap")
    unknown = sorted(set(data) - {"max", "per_days"})
    if unknown:
        raise InvalidInput(f"unknown key {unknown[0]!r}", f"trigger.cap.{unknown[0]}")
    return {
        "max": _whole(data.get("max"), 1, MAX_CAP, "trigger.cap.max"),
        "per_days": _whole(data.get("per_days"), 1, 3650, "trigger.cap.per_days"),
    }


def _whole(value: Any, low: int, high: int, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"expected a whole number from {low} to {high}", path)
    return value


# -- rows -----------------------------------------------------------------------------------------


def _select() -> sa.Select[Any]:
    return sa.select(campaigns, users.c.email.label("created_by_email")).join(
        users, users.c.id == campaigns.c.created_by, isouter=True
    )


def get_campaign(conn: sa.Connection, project: Project, campaign_id: int) -> CampaignWithCreator:
    row = conn.execute(
        _select().where(campaigns.c.project_id == project.id, campaigns.c.id == campaign_id)
    ).first()
    if row is None:
        raise NotFound(f"no campaign {campaign_id}")
    return CampaignWithCreator.of(row)


def editable_campaign(
    conn: sa.Connection, project: Project, principal: Principal, campaign_id: int
) -> CampaignWithCreator:
    """A campaign the caller may change, run or delete: its creator, owners and admins."""
    row = get_campaign(conn, project, campaign_id)
    if principal.role == Role.MEMBER and row.created_by != principal.user_id:
        raise Forbidden("only the campaign's creator, owners and admins may change it")
    return row


def all_campaigns(conn: sa.Connection, project: Project) -> list[CampaignWithCreator]:
    query = _select().where(campaigns.c.project_id == project.id)
    ordered = query.order_by(campaigns.c.created_at.desc(), campaigns.c.id.desc())
    return [CampaignWithCreator.of(row) for row in conn.execute(ordered)]


def _values(
    conn: sa.Connection,
    project: Project,
    data: Mapping[str, Any],
    current: CampaignWithCreator | None,
    reader: Principal | None,
) -> dict[str, Any]:
    """Column values for the fields given (all of them when creating)."""
    values: dict[str, Any] = {}
    if current is None or "name" in data:
        values["name"] = check_name(data.get("name"))
    if "description" in data:
        values["description"] = check_description(data.get("description"))
    if current is None or "trigger" in data:
        values["trigger"] = check_trigger(conn, project, data.get("trigger"), reader)
    if current is None or "targeting" in data:
        given = data.get("targeting")
        trigger = values.get("trigger") or (current.trigger if current else None)
        if trigger and _includes_nothing(given):  # a triggered campaign's own segment
            given = {**(given or {}), "include_segments": [trigger["segment_id"]]}
        targeting = check_targeting(conn, project, given, reader)
        values.update(targeting.public())
    if current is None or "channel" in data:
        channel = data.get("channel", "email")
        if channel not in CHANNELS:
            raise InvalidInput(f"expected one of {', '.join(CHANNELS)}", "channel")
        values["channel"] = channel
    if "subject" in data or current is None:
        values["subject"] = templates.check_subject(data.get("subject") or "")
    if "body" in data or current is None:
        values["body"] = templates.check_body(data.get("body") or "")
    if "webhook_url" in data:
        url = data.get("webhook_url")
        values["webhook_url"] = check_destination(url, "webhook_url") if url else None
    if current is None or "schedule" in data:
        schedule = check_schedule(data.get("schedule"), project)
        values.update(
            schedule=schedule.kind,
            send_at=schedule.send_at,
            cron=schedule.cron,
            timezone=schedule.timezone,
        )
    if current is None or "resend" in data:
        resend = check_resend(data.get("resend"))
        values.update(resend=resend.policy, resend_after_days=resend.after_days)
    if current is None or "state" in data:
        state = data.get("state", "draft")
        if state not in SETTABLE_STATES:
            raise InvalidInput(f"expected one of {', '.join(SETTABLE_STATES)}", "state")
        values["state"] = state
    return values


def check_stored(conn: sa.Connection, project: Project, row: Mapping[str, Any]) -> None:
    """A campaign's stored columns (an imported one) through the checks its fields pass when
    saved: targeting and trigger against this project's segments and lists, the schedule, the
    templates, the channel, the webhook URL's shape (where it leads is checked whenever a
    connection is opened: outbound.py), the resend policy."""
    # Its segment may have been deactivated since the trigger was saved: the product allows it.
    check_trigger(conn, project, row.get("trigger"), None, inactive=True)
    targeting = {name: row.get(name) for name in (*TARGET_LISTS, "filter")}
    check_targeting(conn, project, targeting, None, filtering.ImportedSegments(conn, project.id))
    schedule = {key: row.get(key) for key in ("send_at", "cron", "timezone")}
    check_schedule({**schedule, "kind": row.get("schedule") or "manual"}, project)
    templates.check_subject(row.get("subject") or "")
    templates.check_body(row.get("body") or "")
    if row.get("channel", "email") not in CHANNELS:
        raise InvalidInput(f"expected one of {', '.join(CHANNELS)}", "channel")
    if row.get("webhook_url"):
        check_url(row["webhook_url"], "webhook_url")
    check_resend(
        {"policy": row.get("resend") or "never", "after_days": row.get("resend_after_days")}
    )


def _includes_nothing(targeting: Any) -> bool:
    """Targeting absent, or including no segment and no list (a form left empty)."""
    if targeting is None:
        return True
    if not isinstance(targeting, Mapping):
        return False
    return not targeting.get("include_segments") and not targeting.get("include_lists")


def _check_trigger_schedule(row: Mapping[str, Any]) -> None:
    """A trigger is a campaign's schedule: it takes no other."""
    if row.get("trigger") and row["schedule"] != "manual":
        raise InvalidInput(
            "a triggered campaign sends on its segment's entries or exits: its schedule must be "
            "manual",
            "schedule.kind",
        )


def _check_complete(row: Mapping[str, Any]) -> None:
    """What a campaign needs before it may be scheduled."""
    if row["channel"] == "email" and not row["subject"].strip():
        raise InvalidInput("an email campaign needs a subject", "subject")
    if row["channel"] == "webhook" and not row["webhook_url"]:
        raise InvalidInput("a webhook campaign needs a URL", "webhook_url")


def _next_run(row: Mapping[str, Any], now: datetime) -> datetime | None:
    if row["state"] != "scheduled":
        return None
    schedule = schedule_of(row)
    moment = schedule.next_after(now)
    if schedule.kind == "once" and moment is None:
        raise InvalidInput(
            "the send time has passed: choose a time in the future", "schedule.send_at"
        )
    return moment


def schedule_of(row: Any) -> Schedule:
    get = row.__getitem__ if isinstance(row, Mapping) else lambda name: getattr(row, name)
    send_at = get("send_at")
    return Schedule(
        get("schedule"), as_utc(send_at) if send_at else None, get("cron"), get("timezone")
    )


def create_campaign(
    conn: sa.Connection,
    project: Project,
    data: Mapping[str, Any],
    created_by: int | None,
    now: datetime,
    reader: Principal | None = None,
) -> int:
    """A new campaign; `reader` (the caller; None: the system) must be able to read every
    segment it targets."""
    values = _values(conn, project, data, None, reader)
    values["webhook_url"] = values.get("webhook_url")
    values["webhook_secret"] = "whsec_" + secrets.token_urlsafe(32)
    _check_trigger_schedule(values)
    if values["state"] == "scheduled":
        _check_complete(values)
    values["next_run_at"] = _next_run(values, now)
    result = conn.execute(
        campaigns.insert()
        .values(
            project_id=project.id, created_by=created_by, created_at=now, updated_at=now, **values
        )
        .returning(campaigns.c.id)
    )
    return int(result.scalar_one())


def update_campaign(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    campaign_id: int,
    data: Mapping[str, Any],
    now: datetime,
) -> None:
    # Locked first (PostgreSQL): the merge below reads the stored targeting, and a segment
    # deleted meanwhile with ?campaigns=detach (which locks the same rows) must not come back.
    conn.execute(
        sa.select(campaigns.c.id)
        .where(campaigns.c.project_id == project.id, campaigns.c.id == campaign_id)
        .with_for_update()
    )
    current = editable_campaign(conn, project, principal, campaign_id)
    values = _values(conn, project, data, current, principal)
    merged = {**asdict(current), **values}
    _check_trigger_schedule(merged)
    if merged["state"] == "scheduled":
        _check_complete(merged)
    schedule_changed = any(
        name in values for name in ("state", "schedule", "send_at", "cron", "timezone")
    )
    if schedule_changed:  # else a run that is due but not yet started must not be skipped
        values["next_run_at"] = _next_run(merged, now)
    conn.execute(
        campaigns.update()
        .where(campaigns.c.project_id == project.id, campaigns.c.id == campaign_id)
        .values(updated_at=now, **values)
    )
    if not merged.get("trigger") or merged["state"] == "draft":
        _drop_pending_sends(conn, project, campaign_id)


def _drop_pending_sends(conn: sa.Connection, project: Project, campaign_id: int) -> None:
    """A trigger removed, or its campaign back to draft: the sends still waiting are dropped
    (a paused campaign keeps them for when it resumes)."""
    s = campaign_trigger_sends.c
    conn.execute(
        campaign_trigger_sends.delete().where(
            s.project_id == project.id, s.campaign_id == campaign_id, s.state == "pending"
        )
    )


def delete_campaign(
    conn: sa.Connection, project: Project, principal: Principal, campaign_id: int
) -> None:
    """The campaign, its runs and their recipient lists (the leads' events stay)."""
    editable_campaign(conn, project, principal, campaign_id)
    conn.execute(
        campaigns.delete().where(
            campaigns.c.project_id == project.id, campaigns.c.id == campaign_id
        )
    )


def rotate_webhook_secret(
    conn: sa.Connection, project: Project, principal: Principal, campaign_id: int, now: datetime
) -> None:
    editable_campaign(conn, project, principal, campaign_id)
    conn.execute(
        campaigns.update()
        .where(campaigns.c.project_id == project.id, campaigns.c.id == campaign_id)
        .values(webhook_secret="whsec_" + secrets.token_urlsafe(32), updated_at=now)
    )
