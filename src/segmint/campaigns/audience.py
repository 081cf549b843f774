"""Who a campaign reaches now: its targeting as SQL over `leads`, and why some leads of the
audience are skipped (unsubscribed, no email address, already sent by this campaign).

Problems that must stop a run (a targeted segment deleted or inactive, a list deleted, mail not
configured) are listed here too: the campaign shows them and a run refuses to start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from segmint.campaigns.definitions import Resend, Targeting
from segmint.campaigns.mail_settings import MailSettings
from segmint.engine import answering, filtering
from segmint.engine import lists as lists_engine
from segmint.engine import segments as segments_engine
from segmint.engine.leads import page_of_leads
from segmint.engine.paging import Sort
from segmint.index import Audience
from segmint.projects import Project
from segmint.store.db import one_of
from segmint.store.rows import SegmentRow
from segmint.store.tables import campaign_recipients, events, leads, lists, segments

UNSUBSCRIBED = "unsubscribed"  # the event type that keeps a lead out of every campaign
SAMPLE_SIZE = 5
SENDABLE = "send"
SKIP_REASONS = ("unsubscribed", "no_email", "already_sent")
# States of an earlier recipient row that count as "sent" for the resend policy: a queued or
# in-flight one will be sent, an unconfirmed one may have been.
COUNTS_AS_SENT = ("queued", "sending", "sent", "unconfirmed")
# A campaign can be left so when the segments it included are deleted and removed from it.
NO_AUDIENCE = (
    "no target audience: it includes no segment or list (its segments were deleted); "
    "include one to send again"
)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def public(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass(frozen=True)
class Catalog:
    """What problems are checked against: the project's segments (name, active) and lists,
    read once for any number of campaigns (a page of them costs two queries, not two each)."""

    segments: dict[int, tuple[str, bool]]
    lists: frozenset[int]

    @classmethod
    def load(cls, conn: sa.Connection, project: Project) -> Catalog:
        rows = conn.execute(
            sa.select(segments.c.id, segments.c.name, segments.c.active).where(
                segments.c.project_id == project.id
            )
        )
        list_ids = conn.execute(sa.select(lists.c.id).where(lists.c.project_id == project.id))
        return cls({r.id: (r.name, r.active) for r in rows}, frozenset(list_ids.scalars()))


def targeting_problems(catalog: Catalog, targeting: Targeting) -> list[Problem]:
    """Targeted segments deleted or inactive (inactive ones cannot be targeted), lists deleted,
    and no audience at all (its only segments deleted and removed from it)."""
    found: list[Problem] = []
    if not targeting.include_segments and not targeting.include_lists:
        found.append(Problem("targeting.include_segments", NO_AUDIENCE))
    for name in ("include_segments", "exclude_segments"):
        for i, segment_id in enumerate(getattr(targeting, name)):
            path = f"targeting.{name}[{i}]"
            if segment_id not in catalog.segments:
                message = f"segment {segment_id} was deleted (target audience missing)"
                found.append(Problem(path, message))
            elif not catalog.segments[segment_id][1]:
                segment_name = catalog.segments[segment_id][0]
                message = f"segment {segment_name!r} is inactive: activate it or remove it"
                found.append(Problem(path, message))
    for name in ("include_lists", "exclude_lists"):
        for i, list_id in enumerate(getattr(targeting, name)):
            if list_id not in catalog.lists:
                found.append(Problem(f"targeting.{name}[{i}]", f"list {list_id} was deleted"))
    return found


def trigger_problems(catalog: Catalog, trigger: dict[str, Any] | None) -> list[Problem]:
    """A trigger on a segment since deleted or made inactive: it fires no more."""
    if not trigger:
        return []
    segment_id = trigger["segment_id"]
    if segment_id not in catalog.segments:
        message = f"segment {segment_id} was deleted: the trigger fires no more"
        return [Problem("trigger.segment_id", message)]
    if not catalog.segments[segment_id][1]:
        name = catalog.segments[segment_id][0]
        message = f"segment {name!r} is inactive: it records no entries or exits; activate it"
        return [Problem("trigger.segment_id", message)]
    return []


def delivery_problems(
    channel: str, settings: MailSettings, webhook_url: str | None
) -> list[Problem]:
    """What the channel lacks: mail settings for email, a URL for the webhook."""
    if channel == "email":
        return [Problem("mail_settings", message) for message in settings.problems()]
    if not webhook_url:
        return [Problem("webhook_url", "a webhook campaign needs a URL")]
    return []


def status(state: str, found: list[Problem]) -> str:
    """The status a campaign shows: its state, or "error" when it cannot send as it stands.

    A draft only waiting for its channel to be set up (no mail settings yet, as on a fresh
    install) is not an error: nothing is due to send, and its problems still say what to do. A
    draft whose audience broke (a targeted segment deleted or made inactive) is one."""
    if state == "draft":
        found = [p for p in found if p.path.startswith(("targeting.", "trigger."))]
    return "error" if found else state


def problems(
    catalog: Catalog,
    targeting: Targeting,
    channel: str,
    settings: MailSettings,
    webhook_url: str | None,
) -> list[Problem]:
    """Why a run of this campaign would not send (empty when it would)."""
    return targeting_problems(catalog, targeting) + delivery_problems(
        channel, settings, webhook_url
    )


def targeted(
    conn: sa.Connection, project: Project, targeting: Targeting, now: datetime
) -> sa.ColumnElement[bool]:
    """Leads in any included segment or list, in no excluded one, matching the extra filter.
    A deleted segment or list contributes nobody (problems() reports it)."""
    rows = {
        r.id: SegmentRow.of(r)
        for r in conn.execute(
            sa.select(segments).where(
                segments.c.project_id == project.id,
                segments.c.id.in_(
                    sorted({*targeting.include_segments, *targeting.exclude_segments})
                ),
            )
        )
    }

    indexed = _targeted_indexed(conn, project, targeting, rows, now)
    if indexed is not None:
        return indexed

    def union(
        segment_ids: tuple[int, ...], list_ids: tuple[int, ...]
    ) -> list[sa.ColumnElement[bool]]:
        parts = [
            segments_engine.segment_condition(conn, project, rows[s], now)
            for s in segment_ids
            if s in rows
        ]
        return parts + [lists_engine.members_condition(project, list_id) for list_id in list_ids]

    included = union(targeting.include_segments, targeting.include_lists)
    excluded = union(targeting.exclude_segments, targeting.exclude_lists)
    where: list[sa.ColumnElement[bool]] = [sa.or_(*included) if included else sa.false()]
    if excluded:
        where.append(sa.not_(sa.or_(*excluded)))
    if targeting.filter is not None:
        tree = filtering.load(project, targeting.filter)
        where.append(filtering.condition(conn, project, tree, now))
    return sa.and_(*where)


def _targeted_indexed(
    conn: sa.Connection,
    project: Project,
    targeting: Targeting,
    rows: dict[int, SegmentRow],
    now: datetime,
) -> sa.ColumnElement[bool] | None:
    """`targeted` answered by the columnar index, as the list of the targeted leads' ids (None:
    SQL answers, when the index cannot or the audience is over MAX_IDS_TO_SQL). What keeps a
    lead from being sent twice (already_sent, unsubscribed) is not decided here: those stay
    conditions of the statements that count and freeze the audience, read in their transaction,
    and intersect with this list there."""
    if not targeting.include_segments and not targeting.include_lists:
        return None  # nobody: SQL says so without a look at the index

    def union(segment_ids: tuple[int, ...], list_ids: tuple[int, ...]) -> list[Audience]:
        found = [
            answering.segment_audience(conn, project, rows[s]) for s in segment_ids if s in rows
        ]
        return found + [answering.list_audience(project, list_id) for list_id in list_ids]

    also = None if targeting.filter is None else filtering.load(project, targeting.filter)
    found = answering.union_ids(
        conn,
        project,
        union(targeting.include_segments, targeting.include_lists),
        union(targeting.exclude_segments, targeting.exclude_lists),
        also,
        now,
    )
    if found is None or len(found.value) > answering.MAX_IDS_TO_SQL:
        return None
    return one_of(leads.c.id, found.value.tolist(), conn.dialect.name)


def unsubscribed(project: Project) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        events.c.project_id == project.id,
        events.c.lead_id == leads.c.id,
        events.c.type == UNSUBSCRIBED,
    )


def already_sent(
    project: Project, campaign_id: int, resend: Resend, now: datetime
) -> sa.ColumnElement[bool]:
    """The lead was sent this campaign before, as the resend policy counts it."""
    if resend.policy == "every_run":
        return sa.false()
    r = campaign_recipients
    query = sa.exists().where(
        r.c.project_id == project.id,
        r.c.campaign_id == campaign_id,
        r.c.lead_id == leads.c.id,
        r.c.state.in_(COUNTS_AS_SENT),
    )
    if resend.policy == "after_days" and resend.after_days:
        recent = now - timedelta(days=resend.after_days)
        query = query.where(sa.or_(r.c.sent_at.is_(None), r.c.sent_at > recent))
    return query


def skip_reason(
    project: Project, channel: str, campaign_id: int | None, resend: Resend, now: datetime
) -> sa.ColumnElement[str]:
    """Why a targeted lead gets nothing, or SENDABLE: the first reason that applies."""
    whens: list[tuple[sa.ColumnElement[bool], str]] = [(unsubscribed(project), "unsubscribed")]
    if channel == "email":
        whens.append((sa.or_(leads.c.email.is_(None), leads.c.email == ""), "no_email"))
    if campaign_id is not None:
        whens.append((already_sent(project, campaign_id, resend, now), "already_sent"))
    return sa.case(*whens, else_=sa.literal(SENDABLE))


def breakdown(
    conn: sa.Connection,
    project: Project,
    where: sa.ColumnElement[bool],
    reason: sa.ColumnElement[str],
) -> dict[str, int]:
    """How many targeted leads would be sent and how many skipped for each reason."""
    label = reason.label("reason")
    query = (
        sa.select(label, sa.func.count())
        .select_from(leads)
        .where(leads.c.project_id == project.id, where)
        .group_by(label)
    )
    counts = {name: 0 for name in (SENDABLE, *SKIP_REASONS)}
    counts.update({name: int(total) for name, total in conn.execute(query)})
    return counts


def preview(
    conn: sa.Connection,
    project: Project,
    targeting: Targeting,
    channel: str,
    campaign_id: int | None,
    resend: Resend,
    now: datetime,
) -> dict[str, Any]:
    """The audience as a run now would freeze it: counts and a sample of who would get it."""
    where = targeted(conn, project, targeting, now)
    reason = skip_reason(project, channel, campaign_id, resend, now)
    counts = breakdown(conn, project, where, reason)
    sendable = sa.and_(where, reason == SENDABLE)
    newest_first = Sort(leads.c.created_at, True, False)
    sample = page_of_leads(conn, project, sendable, newest_first, 1, SAMPLE_SIZE, counts[SENDABLE])
    return {
        "count": counts[SENDABLE],
        "matching": sum(counts.values()),
        "skipped": {name: counts[name] for name in SKIP_REASONS},
        "sample": sample.items,
        "evaluated_at": now,
    }
