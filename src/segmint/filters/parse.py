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
from segmint.filters.fields import FieldSpec, FieldType, resolve_event_field, resolve_field
from segmint.filters.operators import OPERATORS, Operator, Shape, operators_for
from segmint.filters.source import SegmentSource
from segmint.filters.timing import PERIODS, parse_when
from segmint.filters.tree import (
    And,
    Bucket,
    Condition,
    EventCondition,
    ListRef,
    ManualRef,
    Node,
    Not,
    Or,
    Scalar,
    SegmentRef,
    SegmentTenure,
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
MIN_YEAR: Final = 1000
MAX_YEAR: Final = 9000
NODE_KEYS: Final = (
    "and",
    "or",
    "not",
    "field",
    "event",
    "in_segment",
    "in_list",
    "assigned_to_me",
    "bucket",
)
# Time in segment: the key of each option of `in_segment`, and whether it means "at least".
TENURE_KEYS: Final = {"for_at_least_days": True, "entered_within_days": False}
# What "assigned to me" reads: the one lead column that names a user.
OWNER_FIELD: Final = "owner"


def _fail(path: str, message: str) -> InvalidInput:
    return InvalidInput(message, path)


class _Parser:
    def __init__(self, project: Project, me: str | None = None) -> None:
        self.project = project
        self.me = me
        self.conditions = 0
        self.segment_refs: list[tuple[int, str]] = []
        self.list_refs: list[tuple[int, str]] = []
        self.tenure_refs: list[tuple[int, str]] = []  # segments whose membership is read

    def node(self, data: Any, path: str, depth: int, in_event: bool = False) -> Node:
        if depth > MAX_DEPTH:
            raise _fail(path, f"too deeply nested: at most {MAX_DEPTH} levels")
        if not isinstance(data, dict):
            raise _fail(path, "expected an object")
        kinds = [key for key in NODE_KEYS if key in data]
        if len(kinds) != 1:
            raise _fail(path, f"expected exactly one of: {', '.join(NODE_KEYS)}")
        kind = kinds[0]
        if in_event and kind in ("event", "in_segment", "in_list", "assigned_to_me", "bucket"):
            raise _fail(path, f"{kind!r} is not allowed inside an event's where")
        if kind in ("and", "or", "not"):
            return self.group(kind, data, path, depth, in_event)
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise _fail(path, f"too many conditions: at most {MAX_CONDITIONS}")
        if kind == "field":
            return self.condition(data, path, in_event)
        if kind == "event":
            return self.event(data, path, depth)
        if kind == "assigned_to_me":
            return self.assigned_to_me(data, path)
        if kind == "bucket":
            return _bucket(data, path)
        return self.reference(kind, data, path)

    def assigned_to_me(self, data: dict[str, Any], path: str) -> Condition:
        """Sugar for `owner eq <me>`, resolved here: a saved segment stores the owner it meant,
        so its membership never depends on who looks at it."""
        _only_keys(data, ("assigned_to_me",), path)
        if data["assigned_to_me"] is not True:
            raise _fail(f"{path}.assigned_to_me", "expected true (use not for the opposite)")
        if self.me is None:
            raise _fail(path, "assigned_to_me needs a signed-in user: name the owner instead")
        return Condition(OWNER_FIELD, "eq", self.me)

    def group(self, kind: str, data: dict[str, Any], path: str, depth: int, in_event: bool) -> Node:
        _only_keys(data, (kind,), path)
        if kind == "not":
            return Not(self.node(data["not"], f"{path}.not", depth + 1, in_event))
        items = data[kind]
        if not isinstance(items, list):
            raise _fail(f"{path}.{kind}", "expected a list of conditions")
        if not items:
            raise _fail(f"{path}.{kind}", "needs at least one condition")
        children = tuple(
            self.node(item, f"{path}.{kind}[{i}]", depth + 1, in_event)
            for i, item in enumerate(items)
        )
        return And(children) if kind == "and" else Or(children)

    def condition(self, data: dict[str, Any], path: str, in_event: bool) -> Condition:
        _only_keys(data, ("field", "op", "value"), path)
        spec = self.field(data["field"], f"{path}.field", in_event)
        op = _operator(data.get("op"), spec, f"{path}.op")
        value = _value(op, spec, data, f"{path}.value")
        return Condition(spec.name, op.key, value)

    def field(self, name: Any, path: str, in_event: bool) -> FieldSpec:
        if not isinstance(name, str):
            raise _fail(path, "expected a string")
        try:
            return resolve_event_field(name) if in_event else resolve_field(name, self.project)
        except InvalidInput as error:
            raise _fail(path, error.message) from None

    def event(self, data: dict[str, Any], path: str, depth: int) -> EventCondition:
        keys = ("event", "performed", "min_count", "max_count", "within_days", "where")
        _only_keys(data, keys, path)
        kind = data["event"]
        if (
            not isinstance(kind, str)
            or not kind.strip()
            or len(kind) > 100
            or not is_storable(kind)
        ):
            raise _fail(f"{path}.event", "expected an event type (1 to 100 characters)")
        performed = data.get("performed", True)
        if not isinstance(performed, bool):
            raise _fail(f"{path}.performed", "expected true or false")
        min_count = _count(data, "min_count", path, 0, default=1) or 0
        max_count = _count(data, "max_count", path, min_count, default=None)
        within = _count(data, "within_days", path, 1, default=None, top=MAX_DAYS)
        where = None
        if data.get("where") is not None:
            where = self.node(data["where"], f"{path}.where", depth + 1, in_event=True)
        return EventCondition(kind, performed, min_count, max_count, within, where)

    def reference(self, kind: str, data: dict[str, Any], path: str) -> Node:
        _only_keys(data, (kind, *TENURE_KEYS) if kind == "in_segment" else (kind,), path)
        ref = data[kind]
        if isinstance(ref, bool) or not isinstance(ref, int) or not 1 <= ref <= 2**62:
            raise _fail(f"{path}.{kind}", "expected a positive integer id")
        if kind == "in_segment":
            self.segment_refs.append((ref, f"{path}.{kind}"))
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
        self.list_refs.append((ref, f"{path}.{kind}"))
        return ListRef(ref)


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
    segment_id: int, source: SegmentSource | None, inlining: tuple[int, ...], project: Project
) -> Node:
    """The tree of a segment an `in_segment` names, for a backend to inline (`inlining`: the
    segments being inlined already, a cycle among them is an error)."""
    if source is None:
        raise InvalidInput("in_segment needs a segment source to resolve segments")
    if segment_id in inlining:
        raise InvalidInput(f"segment {segment_id} refers to itself through in_segment")
    stored = source.get_filter(segment_id)
    if stored is None:
        raise InvalidInput(f"unknown segment {segment_id}")
    tree = parse_filter(stored, project, path=f"segment[{segment_id}].filter")
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
    """Segment ids a stored (raw JSON) filter refers to, wherever they are."""
    return stored_references(data, "in_segment")


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
        (leaf["in_segment"], f"{at}.in_segment")
        for at, leaf in stored_leaves(data, path)
        if isinstance(leaf.get("in_segment"), int) and not isinstance(leaf["in_segment"], bool)
    ]


def stored_leaves(data: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """(JSON path, node) of each condition, event condition and reference of a stored filter,
    through its groups and NOTs (a path keeps its `.not`s: `filter.and[1].not`), not into an
    event's `where`."""
    if not isinstance(data, dict):
        return []
    if isinstance(data.get("not"), dict):
        return stored_leaves(data["not"], f"{path}.not")
    for kind in ("and", "or"):
        if isinstance(data.get(kind), list):
            return [
                found
                for at, child in enumerate(data[kind])
                for found in stored_leaves(child, f"{path}.{kind}[{at}]")
            ]
    return [(path, data)]


def check_references(
    refs: list[tuple[int, str]],
    lists: list[tuple[int, str]],
    source: SegmentSource,
    segment_id: int | None,
    tenure: Sequence[tuple[int, str]] = (),
) -> None:
    for ref, path in refs:
        if ref == segment_id:
            raise _fail(path, "a segment cannot refer to itself")
        if source.get_filter(ref) is None:
            raise _fail(path, f"unknown segment {ref}")
    check_readable_refs(refs, source)
    for ref, path in refs:
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
) -> Node:
    """Validate filter JSON and build its tree; raises InvalidInput naming the bad node's path.

    `me`: the email `{"assigned_to_me": true}` stands for (the reader of an ad-hoc filter, the
    creator of a saved segment); without it that node is refused.

    With `segments`, `in_segment` / `in_list` references must exist, every segment they reach
    must be one the caller may read (else Forbidden) and `in_segment` must not form a cycle
    (through the stored filters) back to `segment_id`, the segment being saved.
    """
    parser = _Parser(project, me)
    try:
        node = parser.node(data, path, depth=1)
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
    if node.where is not None:
        data["where"] = to_json(node.where)
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
        case _:
            assert_never(node)
