"""Tree, lead -> bool in pure Python, with exactly the semantics of the SQL compiler.

The operators' Python predicates (operators.py) read values through `PyValue`, the counterpart of
to_sql's operands. `explain` returns each node's result and the lead's value for it, as
JSON-serialisable dicts (the "why they match" panel).

A lead is a mapping of its column values (as stored: see `segmint.filters.loader.load_lead`),
plus optional keys `account` (a mapping of the account's columns and `metadata`, or None) and
`list_ids` (ids of the static lists the lead is a member of), `manual` ((segment id, kind)
pairs: the segments that include or exclude the lead by hand) and `segment_entered` (segment id
-> when the lead's current membership of that active segment began: time in segment).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, assert_never

from segmint.bucketing import bucket_of
from segmint.clock import Clock, as_utc
from segmint.filters.fields import (
    FieldSpec,
    FieldType,
    Storage,
    Table,
    resolve_account_field,
    resolve_event_field,
    resolve_field,
)
from segmint.filters.operators import OPERATORS, PY_PRIMITIVES, View
from segmint.filters.source import SegmentSource
from segmint.filters.timing import TimeContext, local_date
from segmint.filters.tree import (
    ACCOUNTS,
    LEADS,
    AccountSegmentRef,
    Aggregate,
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
    SequenceStep,
)
from segmint.folding import fold
from segmint.projects import Project


@dataclass(frozen=True)
class PyValue:
    """One stored value, read the way the SQL views read it (anything else is None)."""

    raw: Any

    def view(self, kind: View) -> Any:
        raw = self.raw
        if kind is View.TEXT:
            return (fold(raw) or None) if isinstance(raw, str) else None
        if kind is View.NUMBER:
            return raw if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        if kind is View.BOOLEAN:
            return ("true" if raw else "false") if isinstance(raw, bool) else None
        if kind is View.INSTANT:
            return as_utc(raw) if isinstance(raw, datetime) else None
        if kind is View.DATE:
            return raw[:10] if isinstance(raw, str) and fold(raw) else None
        raise TypeError(f"unknown view {kind!r}")

    def present(self) -> bool:
        raw = self.raw
        if raw is None:
            return False
        if isinstance(raw, str):
            return bool(fold(raw))
        if isinstance(raw, list):
            return bool(raw)
        return True

    def elements(self) -> frozenset[str]:
        if not isinstance(self.raw, list):
            return frozenset()
        return frozenset(fold(item) or "" for item in self.raw if isinstance(item, str))

    def any_element(self, primitive: str, argument: Any) -> bool:
        """Some string element, read as TEXT (a blank one is null), satisfies the primitive."""
        test = PY_PRIMITIVES[primitive]
        return any(test(element, argument) for element in self.elements() if element)


def walk(value: Any, path: tuple[str, ...]) -> Any:
    """The value at a path of object keys; None when any step is missing or not an object."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _column_value(spec: FieldSpec, row: Mapping[str, Any]) -> Any:
    value = row.get(spec.column)
    if spec.type is FieldType.DATETIME and isinstance(value, str):
        return datetime.fromisoformat(value)  # leads given as API JSON
    return value


def field_value(spec: FieldSpec, lead: Mapping[str, Any], metadata: Any = None) -> Any:
    """The raw value a field names, for a lead (or, in an event's where, its metadata)."""
    if spec.table is Table.EVENTS:
        return walk(metadata, spec.path)
    if spec.table is Table.ACCOUNTS:
        account = lead.get("account")
        if not account:
            return None
        if spec.storage is Storage.JSON:
            return walk(account.get(spec.column), spec.path)
        return _column_value(spec, account)
    if spec.storage is Storage.NAME:
        return f"{lead.get('first_name') or ''} {lead.get('last_name') or ''}"
    if spec.storage is Storage.ENRICHMENT_STATUS:
        enrichment = lead.get("enrichment")
        return "enriched" if isinstance(enrichment, dict) and enrichment else "not_enriched"
    if spec.storage is Storage.JSON:
        return walk(lead.get(spec.column), spec.path)
    return _column_value(spec, lead)


@dataclass(frozen=True)
class _Context:
    project: Project
    time: TimeContext
    lead: Mapping[str, Any]
    events: Sequence[Mapping[str, Any]]
    segments: SegmentSource | None
    inlining: tuple[int, ...] = ()
    metadata: Any = None  # the event being tested by a where clause
    in_event: bool = False
    # "accounts": an account segment's filter, `lead` is then {"account": <the account>}
    audience: str = LEADS


def _spec(node: Condition, ctx: _Context) -> FieldSpec:
    if ctx.in_event:
        return resolve_event_field(node.field)
    if ctx.audience == ACCOUNTS:
        return resolve_account_field(node.field)
    return resolve_field(node.field, ctx.project)


def _condition(node: Condition, ctx: _Context) -> tuple[bool, Any]:
    spec = _spec(node, ctx)
    op = OPERATORS.get(node.op)
    if op is None:
        raise ValueError(f"unknown operator {node.op!r}")
    raw = field_value(spec, ctx.lead, ctx.metadata)
    return op.python(PyValue(raw), spec, node.value, ctx.time), raw


def in_window(
    occurred: datetime, within_days: int | None, older_than_days: int | None, now: datetime
) -> bool:
    """`within_days`: now - D <= occurred <= now; `older_than_days`: occurred < now - D2."""
    if within_days is not None and not now - timedelta(days=within_days) <= occurred <= now:
        return False
    return older_than_days is None or occurred < now - timedelta(days=older_than_days)


def _matching_events(node: EventCondition, ctx: _Context) -> list[Mapping[str, Any]]:
    """The lead's events an event condition counts: its type, window and `where`."""
    found = []
    for event in ctx.events:
        if event.get("type") != node.type:
            continue
        occurred = as_utc(event["occurred_at"])
        if not in_window(occurred, node.within_days, node.older_than_days, ctx.time.now):
            continue
        where_ctx = replace(ctx, metadata=event.get("metadata"), in_event=True)
        if node.where is None or _evaluate(node.where, where_ctx):
            found.append(event)
    return found


def _event_count(node: EventCondition, ctx: _Context) -> int:
    return len(_matching_events(node, ctx))


def aggregate_value(node: Aggregate, metadatas: Iterable[Any]) -> float | int | None:
    """fn over the JSON numbers at the aggregate's path (None when there are none)."""
    spec = resolve_event_field(node.path)
    numbers = [PyValue(walk(m, spec.path)).view(View.NUMBER) for m in metadatas]
    values = [n for n in numbers if n is not None]
    if not values:
        return None
    if node.fn == "sum":
        return sum(float(v) for v in values)
    if node.fn == "avg":
        return sum(float(v) for v in values) / len(values)
    chosen: float | int = min(values) if node.fn == "min" else max(values)
    return chosen


def aggregate_holds(node: Aggregate, value: float | int | None) -> bool:
    """`value op node.value`, with a null value matching `neq` only."""
    if value is None:
        return node.op == "neq"
    wanted = node.value
    if isinstance(wanted, tuple):
        return wanted[0] <= value <= wanted[1]
    tests = {
        "eq": value == wanted,
        "neq": value != wanted,
        "gt": value > wanted,
        "gte": value >= wanted,
        "lt": value < wanted,
        "lte": value <= wanted,
    }
    return tests[node.op]


def _event(node: EventCondition, ctx: _Context) -> tuple[bool, int]:
    matching = _matching_events(node, ctx)
    count = len(matching)
    within = count >= node.min_count and (node.max_count is None or count <= node.max_count)
    if within and node.min_distinct_days is not None:
        days = {local_date(as_utc(e["occurred_at"]), ctx.time.zone) for e in matching}
        within = len(days) >= node.min_distinct_days
    if within and node.aggregate is not None:
        value = aggregate_value(node.aggregate, (e.get("metadata") for e in matching))
        within = aggregate_holds(node.aggregate, value)
    return within == node.performed, count


def _distinct_types(node: DistinctEvents, ctx: _Context) -> int:
    kinds = set()
    for event in ctx.events:
        kind = event.get("type")
        if node.types is not None and kind not in node.types:
            continue
        if in_window(as_utc(event["occurred_at"]), node.within_days, None, ctx.time.now):
            kinds.add(kind)
    return len(kinds)


def _distinct_events(node: DistinctEvents, ctx: _Context) -> tuple[bool, int]:
    found = _distinct_types(node, ctx)
    return found >= node.count, found


def _step_times(step: SequenceStep, ctx: _Context) -> list[datetime]:
    """When the lead did this step's event (of its type, matching its where), in order."""
    times = []
    for event in ctx.events:
        if event.get("type") != step.type:
            continue
        where_ctx = replace(ctx, metadata=event.get("metadata"), in_event=True)
        if step.where is None or _evaluate(step.where, where_ctx):
            times.append(as_utc(event["occurred_at"]))
    return sorted(times)


def _chain_end(
    start: datetime, later_steps: list[list[datetime]], last: datetime | None
) -> datetime | None:
    """The end of the earliest chain from `start` through the later steps, each event strictly
    after the one before (and not after `last`, if given); None when there is none."""
    at = start
    for times in later_steps:
        following = next((t for t in times if t > at), None)
        if following is None or (last is not None and following > last):
            return None
        at = following
    return at


def _sequence(node: EventSequence, ctx: _Context) -> bool:
    """Greedy: from each possible first event, take the earliest event of each next step; it
    ends the chain soonest, so the window holds, and the span (e1, en) holds no excluded event,
    for some chain from that start iff for this one."""
    steps = [_step_times(step, ctx) for step in node.steps]
    starts = steps[0]
    if node.since_days is not None:
        since = ctx.time.now - timedelta(days=node.since_days)
        starts = [t for t in starts if since <= t <= ctx.time.now]
    if node.within_days is None and node.not_between is None:
        starts = starts[:1]  # a chain from any later start also runs from the earliest
    excluded = [] if node.not_between is None else _step_times(node.not_between, ctx)
    window = None if node.within_days is None else timedelta(days=node.within_days)
    for start in starts:
        last = None if window is None else start + window
        end = _chain_end(start, steps[1:], last)
        if end is not None and not any(start < t < end for t in excluded):
            return True
    return False


def _stored_tree(node: SegmentRef, ctx: _Context) -> tuple[Node, _Context]:
    from segmint.filters.parse import referenced_tree

    tree = referenced_tree(node.segment_id, ctx.segments, ctx.inlining, ctx.project, ctx.audience)
    return tree, replace(ctx, inlining=(*ctx.inlining, node.segment_id))


def _account_leads(account: Mapping[str, Any]) -> Sequence[tuple[Mapping[str, Any], Any]]:
    found = account.get("leads")
    if found is None:
        # Answering without them would quietly count none: the loader must supply them.
        raise ValueError("an account filter's leads node needs the account's leads")
    return found  # type: ignore[no-any-return]


def _leads_count(node: LeadsCondition, ctx: _Context) -> int:
    """How many of the account's leads (each with its events) match the node's lead filter."""
    account = ctx.lead["account"]
    count = 0
    for lead, lead_events in _account_leads(account):
        inner = replace(ctx, lead=lead, events=tuple(lead_events), audience=LEADS, in_event=False)
        if _evaluate(node.where, inner):
            count += 1
    return count


def _leads(node: LeadsCondition, ctx: _Context) -> tuple[bool, int]:
    count = _leads_count(node, ctx)
    within = count >= node.min_count and (node.max_count is None or count <= node.max_count)
    return within, count


def _account_tree(node: AccountSegmentRef, ctx: _Context) -> tuple[Node, _Context] | None:
    """The account segment's tree and the context of the lead's account, None without one."""
    from segmint.filters.parse import referenced_tree

    account = ctx.lead.get("account")
    tree = referenced_tree(node.segment_id, ctx.segments, ctx.inlining, ctx.project, ACCOUNTS)
    if not account:
        return None
    inner = replace(
        ctx,
        lead={"account": account},
        events=(),
        audience=ACCOUNTS,
        inlining=(*ctx.inlining, node.segment_id),
    )
    return tree, inner


def _in_account_segment(node: AccountSegmentRef, ctx: _Context) -> bool:
    found = _account_tree(node, ctx)
    return found is not None and _evaluate(*found)


def _in_list(node: ListRef, ctx: _Context) -> bool:
    return node.list_id in set(ctx.lead.get("list_ids") or ())


def _manual(node: ManualRef, ctx: _Context) -> bool:
    return (node.segment_id, node.kind) in set(ctx.lead.get("manual") or ())


def _bucket(node: Bucket, ctx: _Context) -> tuple[bool, int]:
    bucket = bucket_of(node.salt, int(ctx.lead["id"]))
    return node.low <= bucket < node.high, bucket


def _tenure(node: SegmentTenure, ctx: _Context) -> tuple[bool, datetime | None]:
    """(matches, when the lead's current membership of the segment began, if it is a member).
    A membership that began after `now` did not exist then (a sweep asks about past moments)."""
    entered = (ctx.lead.get("segment_entered") or {}).get(node.segment_id)
    if entered is None or as_utc(entered) > ctx.time.now:
        return False, entered
    boundary = ctx.time.now - timedelta(days=node.days)
    began = as_utc(entered)
    return (began <= boundary if node.at_least else began > boundary), entered


def _evaluate(node: Node, ctx: _Context) -> bool:
    match node:
        case And(children):
            return all(_evaluate(child, ctx) for child in children)
        case Or(children):
            return any(_evaluate(child, ctx) for child in children)
        case Not(child):
            return not _evaluate(child, ctx)
        case Condition():
            return _condition(node, ctx)[0]
        case EventCondition():
            return _event(node, ctx)[0]
        case DistinctEvents():
            return _distinct_events(node, ctx)[0]
        case EventSequence():
            return _sequence(node, ctx)
        case SegmentRef():
            return _evaluate(*_stored_tree(node, ctx))
        case SegmentTenure():
            return _tenure(node, ctx)[0]
        case ListRef():
            return _in_list(node, ctx)
        case ManualRef():
            return _manual(node, ctx)
        case LeadsCondition():
            return _leads(node, ctx)[0]
        case AccountSegmentRef():
            return _in_account_segment(node, ctx)
        case Bucket():
            return _bucket(node, ctx)[0]
        case _:
            assert_never(node)


def _context(
    lead: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
    now: datetime | Clock,
    project: Project,
    segments: SegmentSource | None,
) -> _Context:
    moment = now if isinstance(now, datetime) else now.now()
    time = TimeContext.of(moment, project.zone)
    return _Context(project, time, lead, tuple(events), segments)


def evaluate(
    node: Node,
    lead: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
    now: datetime | Clock,
    *,
    project: Project,
    segments: SegmentSource | None = None,
) -> bool:
    """Does the lead (with its events) match the filter at `now`? Same answer as the SQL."""
    return _evaluate(node, _context(lead, events, now, project, segments))


# -- explain -----------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def condition_words(node: Condition, spec: FieldSpec) -> dict[str, Any]:
    """A condition as a person reads it ("Company size", "is at least", 50): what a "why" and
    a segment's summary show, never `gte`."""
    return {
        "type": "condition",
        "field": node.field,
        "op": node.op,
        "field_label": spec.label,
        "op_label": OPERATORS[node.op].label,
        "value": to_jsonable(node.value),
    }


def event_words(node: EventCondition) -> dict[str, Any]:
    """An event condition's type, direction, counts and window, for the same readers."""
    words: dict[str, Any] = {
        "type": "event",
        "event": node.type,
        "performed": node.performed,
        "min_count": node.min_count,
        "max_count": node.max_count,
        "within_days": node.within_days,
    }
    if node.older_than_days is not None:
        words["older_than_days"] = node.older_than_days
    if node.min_distinct_days is not None:
        words["min_distinct_days"] = node.min_distinct_days
    if node.aggregate is not None:
        aggregate = node.aggregate
        words["aggregate"] = {
            "fn": aggregate.fn,
            "path": aggregate.path,
            "op": aggregate.op,
            "value": to_jsonable(aggregate.value),
        }
    return words


def distinct_events_words(node: DistinctEvents) -> dict[str, Any]:
    """A distinct-event-types condition, for the same readers."""
    return {
        "type": "distinct_events",
        "distinct_events": node.count,
        "within_days": node.within_days,
        "types": None if node.types is None else list(node.types),
    }


def leads_words(node: LeadsCondition) -> dict[str, Any]:
    """A `leads` node's bounds (its lead filter is described or explained beside them)."""
    return {"type": "leads", "min_count": node.min_count, "max_count": node.max_count}


def sequence_words(node: EventSequence) -> dict[str, Any]:
    """A sequence's steps (types) and windows, for the same readers."""
    return {
        "type": "sequence",
        "steps": [{"event": step.type} for step in node.steps],
        "within_days": node.within_days,
        "since_days": node.since_days,
        "not_between": None if node.not_between is None else {"event": node.not_between.type},
    }


def bucket_words(node: Bucket) -> dict[str, Any]:
    """A random split's range (low included, high not) and salt."""
    return {"type": "bucket", "low": node.low, "high": node.high, "salt": node.salt}


def tenure_words(node: SegmentTenure) -> dict[str, Any]:
    """Time in segment: the segment, which option (`timing`, its JSON key) and the days."""
    timing = "for_at_least_days" if node.at_least else "entered_within_days"
    return {"type": "segment_time", "segment_id": node.segment_id, "timing": timing,
            "days": node.days}  # fmt: skip


def _explain_condition(node: Condition, ctx: _Context) -> dict[str, Any]:
    result, raw = _condition(node, ctx)
    words = condition_words(node, _spec(node, ctx))
    return {**words, "lead_value": to_jsonable(raw), "result": result}


def _explain_group(kind: str, children: tuple[Node, ...], ctx: _Context) -> dict[str, Any]:
    explained = [_explain(child, ctx) for child in children]
    results = [child["result"] for child in explained]
    result = all(results) if kind == "and" else any(results)
    return {"type": kind, "result": result, "children": explained}


def _explain(node: Node, ctx: _Context) -> dict[str, Any]:
    match node:
        case And(children):
            return _explain_group("and", children, ctx)
        case Or(children):
            return _explain_group("or", children, ctx)
        case Not(child):
            inner = _explain(child, ctx)
            return {"type": "not", "result": not inner["result"], "child": inner}
        case Condition():
            return _explain_condition(node, ctx)
        case EventCondition():
            matched, count = _event(node, ctx)
            return {**event_words(node), "count": count, "result": matched}
        case DistinctEvents():
            matched, types_found = _distinct_events(node, ctx)
            return {**distinct_events_words(node), "count": types_found, "result": matched}
        case EventSequence():
            return {**sequence_words(node), "result": _sequence(node, ctx)}
        case SegmentRef(segment_id):
            tree, inner_ctx = _stored_tree(node, ctx)
            inner = _explain(tree, inner_ctx)
            return {
                "type": "in_segment",
                "segment_id": segment_id,
                "result": inner["result"],
                "child": inner,
            }
        case SegmentTenure():
            result, entered = _tenure(node, ctx)
            return {**tenure_words(node), "lead_value": to_jsonable(entered), "result": result}
        case ListRef(list_id):
            return {"type": "in_list", "list_id": list_id, "result": _in_list(node, ctx)}
        case ManualRef(segment_id, kind):
            result = _manual(node, ctx)
            return {"type": "manual", "segment_id": segment_id, "kind": kind, "result": result}
        case LeadsCondition():
            matched, count = _leads(node, ctx)
            return {**leads_words(node), "count": count, "result": matched}
        case AccountSegmentRef(segment_id):
            found = _account_tree(node, ctx)
            explained = _explain(*found) if found is not None else None
            return {
                "type": "in_account_segment",
                "segment_id": segment_id,
                "result": explained is not None and explained["result"],
                "child": explained,
            }
        case Bucket():
            result, bucket = _bucket(node, ctx)
            return {**bucket_words(node), "lead_value": bucket, "result": result}
        case _:
            assert_never(node)


def explain(
    node: Node,
    lead: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
    now: datetime | Clock,
    *,
    project: Project,
    segments: SegmentSource | None = None,
) -> dict[str, Any]:
    """Each node's result and the lead's value for it, as JSON-serialisable dicts."""
    return _explain(node, _context(lead, events, now, project, segments))


def evaluate_account(
    node: Node,
    account: Mapping[str, Any],
    now: datetime | Clock,
    *,
    project: Project,
    segments: SegmentSource | None = None,
) -> bool:
    """Does the account match an account segment's filter at `now`? Same answer as the SQL.

    `account`: its columns and `metadata`, and under "leads" each of its leads with its events,
    as (lead, events) pairs in the shape `evaluate` takes them."""
    ctx = replace(_context({"account": account}, (), now, project, segments), audience=ACCOUNTS)
    return _evaluate(node, ctx)
