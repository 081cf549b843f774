"""JSON <-> tree, with validation whose errors name the JSON path of the bad node.

`parse_filter` is the only way user JSON becomes a tree: every other entry point (the text syntax,
stored segments inlined by `in_segment`) goes through it, so every rule is checked in one place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from typing import Any, Final, assert_never

from segmint.bucketing import BUCKETS
from segmint.errors import Forbidden, InvalidInput
from segmint.filters.fields import (
    FieldSpec,
    FieldType,
    resolve_account_field,
    resolve_event_field,
    resolve_field,
)
from segmint.filters.operators import OPERATORS, Operator, Shape, operators_for
from segmint.filters.source import SegmentSource
from segmint.filters.timing import PERIODS, parse_when
from segmint.filters.tree import (
    ACCOUNTS,
    AUDIENCES,
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
    Scalar,
    SegmentRef,
    SegmentTenure,
    SequenceStep,
    Value,
)
from segmint.projects import Project
from segmint.storable import is_storable

MAX_DEPTH: Final = 10
MAX_CONDITIONS: Final = 200
MAX_LIST: Final = 1000  # values in one `in` / `has_any` list
MAX_TEXT: Final = 1000
MAX_NUMBER: Final = 1e15  # beyond this a value cannot be bound as a 64-bit integer everywhere
MAX_DAYS: Final = 100_000
MAX_COUNT: Final = 1_000_000_000
AGGREGATE_FNS: Final = ("sum", "avg", "min", "max")
AGGREGATE_OPS: Final = ("eq", "neq", "gt", "gte", "lt", "lte", "between")
MIN_STEPS: Final = 2  # a sequence's steps (contract §3b)
MAX_STEPS: Final = 5
MIN_YEAR: Final = 1000
MAX_YEAR: Final = 9000
NODE_KEYS: Final = (
    "and",
    "or",
    "not",
    "field",
    "event",
    "distinct_events",
    "sequence",
    "in_segment",
    "in_list",
    "assigned_to_me",
    "bucket",
)
# Time in segment: the key of each option of `in_segment`, and whether it means "at least".
TENURE_KEYS: Final = {"for_at_least_days": True, "entered_within_days": False}
# What "assigned to me" reads: the one lead column that names a user.
OWNER_FIELD: Final = "owner"
# An account segment's filter: account fields, other account segments, and its leads.
ACCOUNT_NODE_KEYS: Final = ("and", "or", "not", "field", "in_segment", "leads")
LEAD_NODE_KEYS: Final = (*NODE_KEYS, "in_account_segment")
_KEYS_OF: Final = {LEADS: LEAD_NODE_KEYS, ACCOUNTS: ACCOUNT_NODE_KEYS}


def _fail(path: str, message: str) -> InvalidInput:
    return InvalidInput(message, path)


class _Parser:
    def __init__(self, project: Project, me: str | None = None) -> None:
        self.project = project
        self.me = me
        self.conditions = 0
        # (segment id, JSON path, the audience the segment must have)
        self.segment_refs: list[tuple[int, str, str]] = []
        self.list_refs: list[tuple[int, str]] = []
        self.tenure_refs: list[tuple[int, str]] = []  # segments whose membership is read

    def node(
        self, data: Any, path: str, depth: int, in_event: bool = False, audience: str = LEADS
    ) -> Node:
        if depth > MAX_DEPTH:
            raise _fail(path, f"too deeply nested: at most {MAX_DEPTH} levels")
        if not isinstance(data, dict):
            raise _fail(path, "expected an object")
        kind = _kind(data, path, audience)
        if in_event and kind in (
            "event",
            "distinct_events",
            "sequence",
            "in_segment",
            "in_list",
            "in_account_segment",
            "assigned_to_me",
            "bucket",
        ):
            raise _fail(path, f"{kind!r} is not allowed inside an event's where")
        if kind in ("and", "or", "not"):
            return self.group(kind, data, path, depth, in_event, audience)
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise _fail(path, f"too many conditions: at most {MAX_CONDITIONS}")
        if kind == "field":
            return self.condition(data, path, in_event, audience)
        if kind == "event":
            return self.event(data, path, depth)
        if kind == "distinct_events":
            return _distinct_events(data, path)
        if kind == "sequence":
            return self.sequence(data, path, depth)
        if kind == "assigned_to_me":
            return self.assigned_to_me(data, path)
        if kind == "bucket":
            return _bucket(data, path)
        if kind == "leads":
            return self.account_leads(data, path, depth)
        return self.reference(kind, data, path, audience)

    def assigned_to_me(self, data: dict[str, Any], path: str) -> Condition:
        """Sugar for `owner eq <me>`, resolved here: a saved segment stores the owner it meant,
        so its membership never depends on who looks at it."""
        _only_keys(data, ("assigned_to_me",), path)
        if data["assigned_to_me"] is not True:
            raise _fail(f"{path}.assigned_to_me", "expected true (use not for the opposite)")
        if self.me is None:
            raise _fail(path, "assigned_to_me needs a signed-in user: name the owner instead")
        return Condition(OWNER_FIELD, "eq", self.me)

    def group(
        self, kind: str, data: dict[str, Any], path: str, depth: int, in_event: bool, audience: str
    ) -> Node:
        _only_keys(data, (kind,), path)
        if kind == "not":
            return Not(self.node(data["not"], f"{path}.not", depth + 1, in_event, audience))
        items = data[kind]
        if not isinstance(items, list):
            raise _fail(f"{path}.{kind}", "expected a list of conditions")
        if not items:
            raise _fail(f"{path}.{kind}", "needs at least one condition")
        children = tuple(
            self.node(item, f"{path}.{kind}[{i}]", depth + 1, in_event, audience)
            for i, item in enumerate(items)
        )
        return And(children) if kind == "and" else Or(children)

    def condition(
        self, data: dict[str, Any], path: str, in_event: bool, audience: str = LEADS
    ) -> Condition:
        _only_keys(data, ("field", "op", "value"), path)
        spec = self.field(data["field"], f"{path}.field", in_event, audience)
        op = _operator(data.get("op"), spec, f"{path}.op")
        value = _value(op, spec, data, f"{path}.value")
        return Condition(spec.name, op.key, value)

    def field(self, name: Any, path: str, in_event: bool, audience: str = LEADS) -> FieldSpec:
        if not isinstance(name, str):
            raise _fail(path, "expected a string")
        try:
            if in_event:
                return resolve_event_field(name)
            if audience == ACCOUNTS:
                return resolve_account_field(name)
            return resolve_field(name, self.project)
        except InvalidInput as error:
            raise _fail(path, error.message) from None

    def event(self, data: dict[str, Any], path: str, depth: int) -> EventCondition:
        keys = (
            "event",
            "performed",
            "min_count",
            "max_count",
            "within_days",
            "older_than_days",
            "min_distinct_days",
            "aggregate",
            "where",
        )
        _only_keys(data, keys, path)
        kind = _event_type(data["event"], f"{path}.event")
        performed = data.get("performed", True)
        if not isinstance(performed, bool):
            raise _fail(f"{path}.performed", "expected true or false")
        min_count = _count(data, "min_count", path, 0, default=1) or 0
        max_count = _count(data, "max_count", path, min_count, default=None)
        within = _count(data, "within_days", path, 1, default=None, top=MAX_DAYS)
        where = None
        if data.get("where") is not None:
            where = self.node(data["where"], f"{path}.where", depth + 1, in_event=True)
        older = _count(data, "older_than_days", path, 1, default=None, top=MAX_DAYS)
        if within is not None and older is not None and within <= older:
            raise _fail(
                f"{path}.older_than_days",
                f"must be less than within_days ({within}): the window is within_days to "
                "older_than_days days ago",
            )
        distinct_days = _count(data, "min_distinct_days", path, 1, default=None, top=MAX_DAYS)
        aggregate = None
        if data.get("aggregate") is not None:
            aggregate = _aggregate(data["aggregate"], f"{path}.aggregate")
        return EventCondition(
            kind,
            performed,
            min_count,
            max_count,
            within,
            where,
            older_than_days=older,
            min_distinct_days=distinct_days,
            aggregate=aggregate,
        )

    def account_leads(self, data: dict[str, Any], path: str, depth: int) -> LeadsCondition:
        """`{"leads": <lead filter>, "min_count": N, "max_count": M}` in an account filter."""
        _only_keys(data, ("leads", "min_count", "max_count"), path)
        min_count = _count(data, "min_count", path, 0, default=1) or 0
        max_count = _count(data, "max_count", path, min_count, default=None)
        where = self.node(data["leads"], f"{path}.leads", depth + 1, audience=LEADS)
        return LeadsCondition(where, min_count, max_count)

    def sequence(self, data: dict[str, Any], path: str, depth: int) -> EventSequence:
        _only_keys(data, ("sequence", "within_days", "since_days", "not_between"), path)
        items = data["sequence"]
        if not isinstance(items, list) or not MIN_STEPS <= len(items) <= MAX_STEPS:
            raise _fail(f"{path}.sequence", f"expected a list of {MIN_STEPS} to {MAX_STEPS} steps")
        steps = tuple(
            self.step(item, f"{path}.sequence[{i}]", depth) for i, item in enumerate(items)
        )
        within = _count(data, "within_days", path, 1, default=None, top=MAX_DAYS)
        since = _count(data, "since_days", path, 1, default=None, top=MAX_DAYS)
        excluded = None
        if data.get("not_between") is not None:  # same shape as a step: a type and a where
            excluded = self.step(data["not_between"], f"{path}.not_between", depth)
        return EventSequence(steps, within, since, excluded)

    def step(self, data: Any, path: str, depth: int) -> SequenceStep:
        if not isinstance(data, dict):
            raise _fail(path, "expected an object")
        _only_keys(data, ("event", "where"), path)
        if "event" not in data:
            raise _fail(f"{path}.event", "required")
        kind = _event_type(data["event"], f"{path}.event")
        where = None
        if data.get("where") is not None:
            where = self.node(data["where"], f"{path}.where", depth + 1, in_event=True)
        return SequenceStep(kind, where)

    def reference(self, kind: str, data: dict[str, Any], path: str, audience: str) -> Node:
        # Time in segment reads a lead segment's maintained membership: lead filters only.
        timed = TENURE_KEYS if kind == "in_segment" and audience == LEADS else ()
        _only_keys(data, (kind, *timed), path)
        ref = data[kind]
        if isinstance(ref, bool) or not isinstance(ref, int) or not 1 <= ref <= 2**62:
            raise _fail(f"{path}.{kind}", "expected a positive integer id")
        if kind == "in_segment":
            self.segment_refs.append((ref, f"{path}.{kind}", audience))
            tenure = [key for key in TENURE_KEYS if key in data]
            if len(tenure) > 1:
                raise _fail(path, "give for_at_least_days or entered_within_days, not both")
            if tenure:
                self.tenure_refs.append((ref, f"{path}.{kind}"))
                days = _count(data, tenure[0], path, 1, default=None, top=MAX_DAYS)
                if days is None:
                    raise _fail(
                        f"{path}.{tenure[0]}", f"expected a whole number from 1 to {MAX_DAYS}"
                    )
                return SegmentTenure(ref, days, TENURE_KEYS[tenure[0]])
            return SegmentRef(ref)
        if kind == "in_account_segment":
            self.segment_refs.append((ref, f"{path}.{kind}", ACCOUNTS))
            return AccountSegmentRef(ref)
        self.list_refs.append((ref, f"{path}.{kind}"))
        return ListRef(ref)


def _kind(data: dict[str, Any], path: str, audience: str) -> str:
    """The one node key of `data`, refused with the reason when the audience has no such node."""
    allowed = _KEYS_OF[audience]
    kinds = [key for key in (*LEAD_NODE_KEYS, "leads") if key in data]
    if len(kinds) != 1:
        raise _fail(path, f"expected exactly one of: {', '.join(allowed)}")
    kind = kinds[0]
    if kind not in allowed:
        if audience == ACCOUNTS:
            raise _fail(
                path,
                f"{kind!r} is a condition on leads: in an account filter it goes inside a "
                "'leads' node",
            )
        raise _fail(path, f"{kind!r} belongs to an account segment's filter, not a lead filter")
    return kind


def _event_type(value: Any, path: str) -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > 100
        or not is_storable(value)
    ):
        raise _fail(path, "expected an event type (1 to 100 characters)")
    return value


def _aggregate(data: Any, path: str) -> Aggregate:
    """`{"fn", "path", "op", "value"}`: an aggregate of a metadata number (contract 3b)."""
    if not isinstance(data, dict):
        raise _fail(path, "expected an object with fn, path, op and value")
    _only_keys(data, ("fn", "path", "op", "value"), path)
    fn = data.get("fn")
    if fn not in AGGREGATE_FNS:
        raise _fail(f"{path}.fn", f"expected one of: {', '.join(AGGREGATE_FNS)}")
    field_path = data.get("path")
    if not isinstance(field_path, str):
        raise _fail(f"{path}.path", "expected a dotted path into the event's metadata")
    try:
        resolve_event_field(field_path)
    except InvalidInput as error:
        raise _fail(f"{path}.path", error.message) from None
    op = data.get("op")
    if op not in AGGREGATE_OPS:
        raise _fail(f"{path}.op", f"expected one of: {', '.join(AGGREGATE_OPS)}")
    if "value" not in data:
        raise _fail(f"{path}.value", "required")
    value = data["value"]
    if op != "between":
        return Aggregate(fn, field_path, op, _number(value, f"{path}.value"))
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(f"{path}.value", "expected [low, high]")
    low, high = (_number(v, f"{path}.value[{i}]") for i, v in enumerate(value))
    return Aggregate(fn, field_path, op, (low, high))


def _distinct_events(data: dict[str, Any], path: str) -> DistinctEvents:
    """`{"distinct_events": N, "within_days": D, "types": [...]}` (contract 3b)."""
    _only_keys(data, ("distinct_events", "within_days", "types"), path)
    count = _count(data, "distinct_events", path, 1, default=0, top=MAX_LIST)
    if not count:  # null
        raise _fail(f"{path}.distinct_events", f"expected a whole number from 1 to {MAX_LIST}")
    within = _count(data, "within_days", path, 1, default=None, top=MAX_DAYS)
    types = None
    if data.get("types") is not None:
        given = data["types"]
        if not isinstance(given, list) or not given or len(given) > MAX_LIST:
            raise _fail(f"{path}.types", f"expected a list of 1 to {MAX_LIST} event types")
        types = tuple(_event_type(t, f"{path}.types[{i}]") for i, t in enumerate(given))
        for i, kind in enumerate(types):
            if kind in types[:i]:
                raise _fail(f"{path}.types[{i}]", f"{kind!r} is listed twice")
        if count > len(types):
            raise _fail(
                f"{path}.distinct_events", f"at most the number of types listed ({len(types)})"
            )
    return DistinctEvents(count, within, types)


def _bucket(data: dict[str, Any], path: str) -> Bucket:
    """`{"bucket": [LOW, HIGH], "salt": TEXT}`: 0 <= LOW < HIGH <= 100 (HIGH excluded)."""
    _only_keys(data, ("bucket", "salt"), path)
    bounds = data["bucket"]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise _fail(f"{path}.bucket", "expected [low, high]")
    for i, bound in enumerate(bounds):
        if isinstance(bound, bool) or not isinstance(bound, int) or not 0 <= bound <= BUCKETS:
            raise _fail(f"{path}.bucket[{i}]", f"expected a whole number from 0 to {BUCKETS}")
    low, high = bounds
    if low >= high:
        raise _fail(f"{path}.bucket", "expected low < high (the high bucket is not included)")
    salt = data.get("salt", "")
    # The salt is hashed exactly as given (spaces and case count): it is not folded like text.
    if not isinstance(salt, str) or len(salt) > 100 or not is_storable(salt):
        raise _fail(f"{path}.salt", "expected a string of at most 100 characters")
    return Bucket(low, high, salt)


def _only_keys(data: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in data:
        if key not in allowed:
            raise _fail(f"{path}.{key}" if isinstance(key, str) else path, "unexpected key")


def _count(
    data: dict[str, Any], key: str, path: str, least: int, default: int | None, top: int = MAX_COUNT
) -> int | None:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= top:
        raise _fail(f"{path}.{key}", f"expected a whole number from {least} to {top}")
    return value


def _operator(key: Any, spec: FieldSpec, path: str) -> Operator:
    if not isinstance(key, str):
        raise _fail(path, "expected an operator name")
    op = OPERATORS.get(key)
    if op is None:
        raise _fail(path, f"unknown operator {key!r}")
    if spec.type not in op.field_types:
        usable = ", ".join(o.key for o in operators_for(spec.type))
        raise _fail(
            path,
            f"{key!r} does not apply to {spec.name} (a {spec.type} field){_list_hint(spec)}; "
            f"use: {usable}",
        )
    return op


def _list_hint(spec: FieldSpec) -> str:
    """A list is matched by its elements: `tags contains "vip"` is refused, and the message says
    which operator does that, rather than leaving it to be picked out of the list of keys."""
    if spec.type is not FieldType.TAGS:
        return ""
    has_any = OPERATORS["has_any"]
    return f": {spec.name} holds a list, use {has_any.text} ({has_any.key}) to match its elements"


# -- values ------------------------------------------------------------------------------------


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, "expected a non-blank string")
    if len(value) > MAX_TEXT:
        raise _fail(path, f"expected at most {MAX_TEXT} characters")
    if not is_storable(value):
        raise _fail(path, "expected valid Unicode text without NUL characters")
    return value


def _number(value: Any, path: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, "expected a number")
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise _fail(path, f"expected a finite number within ±{MAX_NUMBER:g}")
    return value


def _when(value: Any, path: str) -> str:
    try:
        # Years well inside datetime's range, so day and zone arithmetic cannot overflow.
        valid = isinstance(value, str) and value == value.strip()
        if valid and MIN_YEAR <= parse_when(value).year <= MAX_YEAR:
            return str(value)
    except ValueError:
        pass
    raise _fail(
        path,
        "expected an ISO date (2024-01-31) or datetime (2024-01-31T09:00:00Z) "
        f"in the years {MIN_YEAR} to {MAX_YEAR}",
    )


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, "expected true or false")
    return value


def _json_scalar(value: Any, path: str) -> Scalar:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _text(value, path)
    if isinstance(value, int | float):
        return _number(value, path)
    raise _fail(path, "expected a string, a number or true/false")


_SCALARS: Final[dict[FieldType, Callable[[Any, str], Scalar]]] = {
    FieldType.TEXT: _text,
    FieldType.SELECT: _text,
    FieldType.NUMBER: _number,
    FieldType.DATETIME: _when,
    FieldType.DATE: _when,
    FieldType.BOOLEAN: _boolean,
    FieldType.JSON: _json_scalar,
}


def _scalar(op: Operator, spec: FieldSpec, value: Any, path: str) -> Scalar:
    if spec.type is FieldType.JSON and op.ordered:
        return _number(value, path)  # numeric operators on untyped JSON take numbers only
    return _SCALARS[spec.type](value, path)


def _list(value: Any, path: str, item: Callable[[Any, str], Scalar]) -> tuple[Scalar, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(path, "expected a non-empty list")
    if len(value) > MAX_LIST:
        raise _fail(path, f"expected at most {MAX_LIST} values")
    return tuple(item(v, f"{path}[{i}]") for i, v in enumerate(value))


def _days(value: Any, path: str) -> int | float:
    days = _number(value, path)
    if not 0 <= days <= MAX_DAYS:
        raise _fail(path, f"expected a number of days from 0 to {MAX_DAYS}")
    return days


def _period(value: Any, path: str) -> str:
    if value not in PERIODS:
        raise _fail(path, f"expected one of: {', '.join(PERIODS)}")
    return str(value)


def _pair(op: Operator, spec: FieldSpec, value: Any, path: str) -> tuple[Scalar, ...]:
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(path, "expected [low, high]")
    return tuple(_scalar(op, spec, v, f"{path}[{i}]") for i, v in enumerate(value))


def _value(op: Operator, spec: FieldSpec, data: dict[str, Any], path: str) -> Value:
    """The condition's value, checked against its operator's shape in the registry."""
    if op.shape is not Shape.NONE and "value" not in data:
        raise _fail(path, "required")
    value = data.get("value")
    match op.shape:
        case Shape.NONE:
            if value is not None:
                raise _fail(path, f"{op.key!r} takes no value")
            return None
        case Shape.SCALAR:
            return _scalar(op, spec, value, path)
        case Shape.LIST:
            return _list(value, path, lambda v, p: _scalar(op, spec, v, p))
        case Shape.TEXT_OR_LIST:
            return _list(value, path, _text) if isinstance(value, list) else _text(value, path)
        case Shape.STRINGS:
            return _list(value, path, _text)
        case Shape.PAIR:
            return _pair(op, spec, value, path)
        case Shape.DAYS:
            return _days(value, path)
        case Shape.PERIOD:
            return _period(value, path)
        case _:
            assert_never(op.shape)


# -- references --------------------------------------------------------------------------------


def referenced_tree(
    segment_id: int,
    source: SegmentSource | None,
    inlining: tuple[int, ...],
    project: Project,
    audience: str = LEADS,
) -> Node:
    """The tree of a segment an `in_segment` (or `in_account_segment`: `audience` "accounts")
    names, for a backend to inline (`inlining`: the segments being inlined already, a cycle
    among them is an error)."""
    if source is None:
        raise InvalidInput("in_segment needs a segment source to resolve segments")
    if segment_id in inlining:
        raise InvalidInput(f"segment {segment_id} refers to itself through in_segment")
    stored = source.get_filter(segment_id)
    if stored is None:
        raise InvalidInput(f"unknown segment {segment_id}")
    tree = parse_filter(stored, project, path=f"segment[{segment_id}].filter", audience=audience)
    return membership_tree(segment_id, tree, source.manual_kinds(segment_id))


INCLUDE: Final = "include"
EXCLUDE: Final = "exclude"
MANUAL_KINDS: Final = (INCLUDE, EXCLUDE)


def membership_tree(segment_id: int, tree: Node, manual_kinds: Collection[str]) -> Node:
    """Who is in a segment: `(filter or included) and not excluded`. THE one place a segment's
    filter becomes its membership; every backend then reads the same tree. A kind the segment
    has no leads for is left out, so a segment without manual members is its filter exactly
    (an OR with a subquery would keep PostgreSQL from serving the filter by an index)."""
    if INCLUDE in manual_kinds:
        tree = Or((tree, ManualRef(segment_id, INCLUDE)))
    if EXCLUDE in manual_kinds:
        tree = And((tree, Not(ManualRef(segment_id, EXCLUDE))))
    return tree


def stored_segment_ids(data: Any) -> set[int]:
    """Segment ids a stored (raw JSON) filter refers to, wherever they are, by `in_segment`
    or `in_account_segment` (a cycle may pass through both)."""
    return stored_references(data, "in_segment") | stored_references(data, "in_account_segment")


def stored_list_ids(data: Any) -> set[int]:
    """List ids a stored (raw JSON) filter refers to, wherever they are."""
    return stored_references(data, "in_list")


def stored_references(data: Any, key: str) -> set[int]:
    """The ids under `key` (`in_segment`, `in_list`) anywhere in a stored filter."""
    found: set[int] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get(key)
            if isinstance(ref, int) and not isinstance(ref, bool):
                found.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _reaches(start: int, target: int | None, source: SegmentSource) -> list[int] | None:
    """A chain of stored references from `start` back to `target` or into a cycle, if any."""
    return _chain_from(start, source, lambda ref, chain: ref == target or ref in chain)


def _unreadable(start: int, source: SegmentSource) -> list[int] | None:
    """A chain of stored references from `start` to a segment the caller may not read, if any.

    The whole reach counts, not only `start`: evaluating a segment inlines the filters of the
    segments it refers to, so their members show through it."""
    if not source.may_read(start):
        return [start]
    return _chain_from(start, source, lambda ref, _chain: not source.may_read(ref))


def _chain_from(
    start: int, source: SegmentSource, stops_at: Callable[[int, list[int]], bool]
) -> list[int] | None:
    """Depth-first over stored references from `start`, each segment expanded once: the chain
    to the first reference `stops_at` accepts (given the chain that reached it), if any."""
    seen: set[int] = set()

    def walk(current: int, chain: list[int]) -> list[int] | None:
        for ref in sorted(stored_segment_ids(source.get_filter(current))):
            if stops_at(ref, chain):
                return [*chain, ref]
            if ref not in seen:
                seen.add(ref)
                found = walk(ref, [*chain, ref])
                if found:
                    return found
        return None

    return walk(start, [start])


def check_readable_refs(refs: list[tuple[int, str]], source: SegmentSource) -> None:
    """Forbidden at the path of the first (segment id, path) reaching an unreadable segment."""
    for ref, path in refs:
        chain = _unreadable(ref, source)
        if chain is None:
            continue
        if len(chain) == 1:
            raise Forbidden(f"segment {ref} is not one you may read", path)
        steps = " -> ".join(str(s) for s in chain)
        raise Forbidden(
            f"segment {ref} refers to segment {chain[-1]}, which you may not read ({steps})", path
        )


def check_readable(data: Any, source: SegmentSource, path: str = "filter") -> None:
    """Raise Forbidden, naming the path of the reference, when a stored filter reaches a segment
    the caller may not read (a segment saved before the rule, or by someone who could). The
    stored JSON is only walked, not validated again: a filter broken since (a field deleted)
    is reported where it is evaluated, as before."""
    check_readable_refs(_stored_refs(data, path), source)


def _stored_refs(data: Any, path: str) -> list[tuple[int, str]]:
    """(segment id, JSON path) of each `in_segment` in a stored filter, paths as the parser
    names them (`in_segment` is not allowed inside an event's where)."""
    return [
        (leaf[key], f"{at}.{key}")
        for at, leaf in stored_leaves(data, path, into_leads=True)
        for key in ("in_segment", "in_account_segment")
        if isinstance(leaf.get(key), int) and not isinstance(leaf[key], bool)
    ]


def stored_leaves(
    data: Any, path: str, into_leads: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    """(JSON path, node) of each condition, event condition and reference of a stored filter,
    through its groups and NOTs (a path keeps its `.not`s: `filter.and[1].not`), not into an
    event's `where`; into an account filter's `leads` nodes only when `into_leads`."""
    if not isinstance(data, dict):
        return []
    if isinstance(data.get("not"), dict):
        return stored_leaves(data["not"], f"{path}.not", into_leads)
    if into_leads and isinstance(data.get("leads"), dict):
        return stored_leaves(data["leads"], f"{path}.leads", into_leads)
    for kind in ("and", "or"):
        if isinstance(data.get(kind), list):
            return [
                found
                for at, child in enumerate(data[kind])
                for found in stored_leaves(child, f"{path}.{kind}[{at}]", into_leads)
            ]
    return [(path, data)]


def _audience_mismatch(ref: int, expected: str) -> str:
    if expected == ACCOUNTS:
        return (
            f"segment {ref} is a lead segment: an account segment's members are accounts "
            "(in an account filter, in_segment names account segments; for its leads use a "
            "'leads' node)"
        )
    return (
        f"segment {ref} is an account segment: a lead filter reaches it with "
        "in_account_segment (the lead's account is a member)"
    )


def check_references(
    refs: list[tuple[int, str, str]],
    lists: list[tuple[int, str]],
    source: SegmentSource,
    segment_id: int | None,
    tenure: Sequence[tuple[int, str]] = (),
) -> None:
    for ref, path, audience in refs:
        if ref == segment_id:
            raise _fail(path, "a segment cannot refer to itself")
        if source.get_filter(ref) is None:
            raise _fail(path, f"unknown segment {ref}")
        if source.audience(ref) != audience:
            raise _fail(path, _audience_mismatch(ref, audience))
    check_readable_refs([(ref, path) for ref, path, _ in refs], source)
    for ref, path, _ in refs:
        chain = _reaches(ref, segment_id, source)
        if chain:
            steps = " -> ".join(str(s) for s in chain)
            raise _fail(path, f"segment references form a cycle ({steps})")
    for ref, path in lists:
        if not source.has_list(ref):
            raise _fail(path, f"unknown list {ref}")
    for ref, path in tenure:
        if not source.is_active(ref):
            raise _fail(
                path,
                f"segment {ref} is not active: time in segment reads a maintained membership",
            )


def parse_filter(
    data: Any,
    project: Project,
    segments: SegmentSource | None = None,
    *,
    segment_id: int | None = None,
    path: str = "filter",
    me: str | None = None,
    audience: str = LEADS,
) -> Node:
    """Validate filter JSON and build its tree; raises InvalidInput naming the bad node's path.

    `me`: the email `{"assigned_to_me": true}` stands for (the reader of an ad-hoc filter, the
    creator of a saved segment); without it that node is refused.

    With `segments`, `in_segment` / `in_list` references must exist, every segment they reach
    must be one the caller may read (else Forbidden) and `in_segment` must not form a cycle
    (through the stored filters) back to `segment_id`, the segment being saved.
    `audience` "accounts": the filter of an account segment (account fields, `leads` nodes).
    """
    if audience not in AUDIENCES:
        raise _fail("audience", f"expected one of: {', '.join(AUDIENCES)}")
    parser = _Parser(project, me)
    try:
        node = parser.node(data, path, depth=1, audience=audience)
    except RecursionError:
        raise _fail(path, "too deeply nested") from None
    if segments is not None:
        check_references(
            parser.segment_refs, parser.list_refs, segments, segment_id, parser.tenure_refs
        )
    return node


# -- tree -> JSON ------------------------------------------------------------------------------


def _json_value(value: Value) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _event_json(node: EventCondition) -> dict[str, Any]:
    data: dict[str, Any] = {"event": node.type}
    if not node.performed:
        data["performed"] = False
    if node.min_count != 1:
        data["min_count"] = node.min_count
    if node.max_count is not None:
        data["max_count"] = node.max_count
    if node.within_days is not None:
        data["within_days"] = node.within_days
    if node.older_than_days is not None:
        data["older_than_days"] = node.older_than_days
    if node.min_distinct_days is not None:
        data["min_distinct_days"] = node.min_distinct_days
    if node.aggregate is not None:
        data["aggregate"] = _aggregate_json(node.aggregate)
    if node.where is not None:
        data["where"] = to_json(node.where)
    return data


def _aggregate_json(node: Aggregate) -> dict[str, Any]:
    value = list(node.value) if isinstance(node.value, tuple) else node.value
    return {"fn": node.fn, "path": node.path, "op": node.op, "value": value}


def _distinct_events_json(node: DistinctEvents) -> dict[str, Any]:
    data: dict[str, Any] = {"distinct_events": node.count}
    if node.within_days is not None:
        data["within_days"] = node.within_days
    if node.types is not None:
        data["types"] = list(node.types)
    return data


def _step_json(step: SequenceStep) -> dict[str, Any]:
    item: dict[str, Any] = {"event": step.type}
    if step.where is not None:
        item["where"] = to_json(step.where)
    return item


def _sequence_json(node: EventSequence) -> dict[str, Any]:
    data: dict[str, Any] = {"sequence": [_step_json(step) for step in node.steps]}
    if node.within_days is not None:
        data["within_days"] = node.within_days
    if node.since_days is not None:
        data["since_days"] = node.since_days
    if node.not_between is not None:
        data["not_between"] = _step_json(node.not_between)
    return data


def to_json(node: Node) -> dict[str, Any]:
    """The canonical JSON of a tree (what segments store)."""
    match node:
        case And(children):
            return {"and": [to_json(child) for child in children]}
        case Or(children):
            return {"or": [to_json(child) for child in children]}
        case Not(child):
            return {"not": to_json(child)}
        case Condition():
            data: dict[str, Any] = {"field": node.field, "op": node.op}
            if node.value is not None:
                data["value"] = _json_value(node.value)
            return data
        case EventCondition():
            return _event_json(node)
        case DistinctEvents():
            return _distinct_events_json(node)
        case EventSequence():
            return _sequence_json(node)
        case SegmentRef(segment_id):
            return {"in_segment": segment_id}
        case SegmentTenure(segment_id, days, at_least):
            key = next(k for k, means in TENURE_KEYS.items() if means == at_least)
            return {"in_segment": segment_id, key: days}
        case ListRef(list_id):
            return {"in_list": list_id}
        case Bucket(low, high, salt):
            return {"bucket": [low, high], **({"salt": salt} if salt else {})}
        case ManualRef():
            raise ValueError("manual membership is not part of a filter and has no JSON")
        case LeadsCondition():
            found: dict[str, Any] = {"leads": to_json(node.where)}
            if node.min_count != 1:
                found["min_count"] = node.min_count
            if node.max_count is not None:
                found["max_count"] = node.max_count
            return found
        case AccountSegmentRef(segment_id):
            return {"in_account_segment": segment_id}
        case _:
            assert_never(node)
