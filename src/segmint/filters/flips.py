"""When the passing of time alone can change a filter's answer for a lead.

The registry's time-relative operators (`Operator.timing`: `within_last`, `older_than`,
`in_period`) and event windows (`within_days`) make leads enter and leave a segment with no write
at all. The answer for one lead can only change at a few instants:

- `within_last N` on a timestamp v: at v (a future value becomes "within") and at v + N days;
  `older_than N`: at v + N days;
- an event window of D days: at each event's occurred_at and occurred_at + D days; a far edge
  of D2 days (`older_than_days`): at occurred_at + D2; `distinct_events`' window likewise, for
  the events of its types;
- a sequence's since_days S: at each first-step event's occurred_at and occurred_at + S days
  (its within_days and not_between compare the events with each other, so the clock never
  moves them);
- time in segment S (D days): at the moment the lead's current membership of S began and that
  moment + D days (a membership that began after a moment did not exist at it);
- calendar periods and day-granular comparisons (date fields, JSON values, in_period): at the
  project's local midnights.

`flip_instants` lists those instants for one lead, so the membership history can be stamped with
the moment a condition flipped rather than the moment a sweep noticed; `candidates` is the same
idea in SQL, narrowing a sweep to the leads that have such an instant in the swept window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, assert_never
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from segmint.clock import as_utc
from segmint.filters.dialects import dialect_for
from segmint.filters.evaluate import PyValue, field_value
from segmint.filters.fields import FieldSpec, FieldType, Storage, resolve_field
from segmint.filters.operators import Operator, Timing, View, get_operator
from segmint.filters.parse import parse_filter
from segmint.filters.source import SegmentSource
from segmint.filters.timing import TimeContext, day_start
from segmint.filters.to_sql import CompileContext, _operand
from segmint.filters.tree import (
    AccountSegmentRef,
    And,
    Bucket,
    Condition,
    DistinctEvents,
    EventCondition,
    EventSequence,
    LeadsCondition,
    ListRef,
    ManualRef,
    Node,
    Not,
    Or,
    SegmentRef,
    SegmentTenure,
)
from segmint.projects import Project
from segmint.store.tables import events, leads, segment_members


@dataclass(frozen=True)
class _Rolling:
    """A rolling operator (`within_last`, `older_than`: the registry's Timing.WINDOW and AGE) on
    a timestamp column (of the lead or its account): flips at instants computed from the value."""

    spec: FieldSpec
    timing: Timing
    days: float


@dataclass(frozen=True)
class _Window:
    """An event condition with `within_days` (or `older_than_days`): flips when an event enters
    or leaves the window, at occurred_at + days (and at occurred_at, harmlessly for an edge
    that is not `now`). `type` None: events of any type (`distinct_events` with no `types`)."""

    type: str | None
    days: float


@dataclass(frozen=True)
class _Tenure:
    """Time in a segment: flips when the membership begins and when it is D days old."""

    segment_id: int
    days: float


class _Midnights:
    """Anything day-granular: flips only at the project's local midnights."""


Trigger = _Rolling | _Window | _Tenure | _Midnights
MIDNIGHTS = _Midnights()


def _is_rolling_on_timestamp(spec: FieldSpec, op: Operator) -> bool:
    return op.rolling and spec.type is FieldType.DATETIME and spec.storage is Storage.COLUMN


def triggers(node: Node, project: Project, source: SegmentSource | None) -> list[Trigger]:
    """What makes this filter time-dependent (empty: only writes can change its answer)."""
    found: list[Trigger] = []
    _collect(node, project, source, found, in_event=False, inlining=())
    return found


def _collect(
    node: Node,
    project: Project,
    source: SegmentSource | None,
    found: list[Trigger],
    in_event: bool,
    inlining: tuple[int, ...],
) -> None:
    match node:
        case And(children) | Or(children):
            for child in children:
                _collect(child, project, source, found, in_event, inlining)
        case Not(child):
            _collect(child, project, source, found, in_event, inlining)
        case Condition():
            _condition(node, project, found, in_event)
        case EventCondition():
            if node.within_days is not None:
                found.append(_Window(node.type, float(node.within_days)))
            if node.older_than_days is not None:
                found.append(_Window(node.type, float(node.older_than_days)))
            if node.where is not None:
                _collect(node.where, project, source, found, True, inlining)
        case DistinctEvents():
            if node.within_days is not None:
                days = float(node.within_days)
                kinds = (None,) if node.types is None else node.types
                found.extend(_Window(kind, days) for kind in kinds)
        case EventSequence():
            if node.since_days is not None:  # the first step's events enter and leave [now-S, now]
                found.append(_Window(node.steps[0].type, float(node.since_days)))
            # not_between adds no instant: it compares event times with each other only, and the
            # starts it looks at are the first-step events since_days already covers.
            excluded = () if node.not_between is None else (node.not_between,)
            for step in (*node.steps, *excluded):
                if step.where is not None:
                    _collect(step.where, project, source, found, True, inlining)
        case SegmentRef(segment_id):
            stored = None if source is None else source.get_filter(segment_id)
            if stored is not None and segment_id not in inlining:
                inner = parse_filter(stored, project)
                _collect(inner, project, source, found, in_event, (*inlining, segment_id))
        case SegmentTenure(segment_id, days):
            found.append(_Tenure(segment_id, float(days)))
        case ListRef() | ManualRef() | Bucket():
            pass  # a static list, like manual membership, changes only by writes; a bucket never
        case LeadsCondition() | AccountSegmentRef():
            # An account segment's own sweep moves accounts (`account_tree_moves_with_time`); a
            # lead segment reaching one follows the accounts that sweep moved, lead by lead.
            pass
        case _:
            assert_never(node)


def account_tree_moves_with_time(node: Node, project: Project, source: SegmentSource) -> bool:
    """Whether time alone can change an account filter's answer: a time-relative operator on an
    account field, or a time-dependent lead filter inside `leads`. Another account segment
    reached through `in_segment` counts as moving (its filter is not read here). A filter for
    which this is False needs no time sweep: only writes move its members."""
    match node:
        case And(children) | Or(children):
            return any(account_tree_moves_with_time(c, project, source) for c in children)
        case Not(child):
            return account_tree_moves_with_time(child, project, source)
        case Condition():
            return get_operator(node.op).time_relative
        case LeadsCondition():
            return bool(triggers(node.where, project, source))
        case _:
            return True


def _condition(node: Condition, project: Project, found: list[Trigger], in_event: bool) -> None:
    op = get_operator(node.op)
    if not op.time_relative:
        return
    spec = None if in_event else resolve_field(node.field, project)
    if spec is not None and _is_rolling_on_timestamp(spec, op):
        found.append(_Rolling(spec, op.timing, float(node.value)))  # type: ignore[arg-type]
    else:
        found.append(MIDNIGHTS)


def midnights(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """The local midnights of a zone in [start, end]."""
    first = as_utc(start).astimezone(zone).date()
    last = as_utc(end).astimezone(zone).date()
    days = (first + timedelta(days=n) for n in range((last - first).days + 2))
    return [m for m in (day_start(d, zone) for d in days) if start <= m <= end]


def _rolling_instants(trigger: _Rolling, value: datetime) -> list[datetime]:
    shifted = value + timedelta(days=trigger.days)
    return [value, shifted] if trigger.timing is Timing.WINDOW else [shifted]


def flip_instants(
    found: Sequence[Trigger],
    lead: Mapping[str, Any],
    lead_events: Sequence[Mapping[str, Any]],
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
) -> list[datetime]:
    """The instants in [start, end] at which this lead's answer can change, in order."""
    instants: set[datetime] = set()
    for trigger in found:
        if isinstance(trigger, _Rolling):
            value = PyValue(field_value(trigger.spec, lead)).view(View.INSTANT)
            if value is not None:
                instants.update(_rolling_instants(trigger, value))
        elif isinstance(trigger, _Tenure):
            entered = (lead.get("segment_entered") or {}).get(trigger.segment_id)
            if entered is not None:
                began = as_utc(entered)
                instants.update((began, began + timedelta(days=trigger.days)))
        elif isinstance(trigger, _Window):
            window = timedelta(days=trigger.days)
            for event in lead_events:
                if trigger.type is None or event.get("type") == trigger.type:
                    occurred = as_utc(event["occurred_at"])
                    instants.update((occurred, occurred + window))
        else:
            instants.update(midnights(start, end, zone))
    return sorted(moment for moment in instants if start <= moment <= end)


def _between(expr: ColumnElement[Any], low: datetime, high: datetime) -> ColumnElement[bool]:
    return sa.and_(expr >= low, expr <= high)


def candidates(
    found: Sequence[Trigger], project: Project, dialect_name: str, start: datetime, end: datetime
) -> ColumnElement[bool] | None:
    """Leads with an instant in [start, end] at which time may change their answer (a
    condition over `leads`); None when nothing in the filter depends on time."""
    if not found:
        return None
    parts: list[ColumnElement[bool]] = []
    ctx = CompileContext(project, dialect_for(dialect_name), TimeContext.of(end, project.zone))
    for trigger in found:
        if isinstance(trigger, _Rolling):
            operand = _operand(trigger.spec, ctx)
            value = operand.view(View.INSTANT)
            shift = timedelta(days=trigger.days)
            parts.append(operand.scope(_between(value, start - shift, end - shift)))
            if trigger.timing is Timing.WINDOW:  # a future value enters the window too
                parts.append(operand.scope(_between(value, start, end)))
        elif isinstance(trigger, _Window):
            shift = timedelta(days=trigger.days)
            occurred = events.c.occurred_at
            of_type = sa.true() if trigger.type is None else events.c.type == trigger.type
            moving = sa.select(events.c.lead_id).where(
                events.c.project_id == project.id,
                of_type,
                sa.or_(
                    _between(occurred, start - shift, end - shift), _between(occurred, start, end)
                ),
            )
            parts.append(leads.c.id.in_(moving))
        elif isinstance(trigger, _Tenure):
            parts.append(leads.c.id.in_(_tenure_moving(trigger, project, start, end)))
        elif midnights(start, end, project.zone):
            return sa.true()
    return sa.or_(*parts) if parts else sa.false()


def _tenure_moving(
    trigger: _Tenure, project: Project, start: datetime, end: datetime
) -> sa.Select[Any]:
    """Members of the segment whose membership began, or turned D days old, in [start, end]."""
    shift = timedelta(days=trigger.days)
    c = segment_members.c
    return sa.select(c.lead_id).where(
        c.project_id == project.id,
        c.segment_id == trigger.segment_id,
        sa.or_(
            _between(c.entered_at, start - shift, end - shift), _between(c.entered_at, start, end)
        ),
    )


def around(instant: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The moments just before and just after an instant (capped at `end`): the answer changes
    at the instant when it differs between the two, whether the instant itself is the first
    moment of the new answer (`>=` bounds) or the last of the old one (`<=` bounds)."""
    step = timedelta(microseconds=1)
    return instant - step, min(instant + step, end)
