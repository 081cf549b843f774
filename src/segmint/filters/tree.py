"""The filter tree: immutable values, built by the JSON and text parsers and read by every backend.

Lists inside values are tuples so that trees are hashable and compare by value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

Scalar: TypeAlias = str | int | float | bool
Value: TypeAlias = Scalar | tuple[Scalar, ...] | None


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class Condition:
    """`field op value`; `value` is None for the operators that take none (is_null, ...)."""

    field: str
    op: str
    value: Value = None


@dataclass(frozen=True)
class EventCondition:
    """The lead has between min_count and max_count events of `type` (matching `where`)."""

    type: str
    performed: bool = True
    min_count: int = 1
    max_count: int | None = None
    within_days: int | None = None
    where: Node | None = None
    # Behaviour over time (contract 3b): a window's far edge, a number of distinct local days
    # and an aggregate of a metadata number; each holds in addition to the count condition.
    older_than_days: int | None = None
    min_distinct_days: int | None = None
    aggregate: Aggregate | None = None


@dataclass(frozen=True)
class Aggregate:
    """`fn(metadata.path) op value` over the JSON numbers at `path` of the matching events
    (others ignored; none at all is null, which only `neq` matches)."""

    fn: str  # sum, avg, min, max
    path: str
    op: str  # eq, neq, gt, gte, lt, lte, between
    value: float | int | tuple[float | int, float | int]


@dataclass(frozen=True)
class DistinctEvents:
    """Events of at least `count` distinct types (of `types`, when given) in the window."""

    count: int
    within_days: int | None = None
    types: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SequenceStep:
    """One step of a sequence: an event of `type` whose metadata matches `where` (if given)."""

    type: str
    where: Node | None = None


@dataclass(frozen=True)
class EventSequence:
    """Events e1 < e2 < ... < en (strictly increasing occurred_at), one per step in order;
    en - e1 <= within_days days if given, e1 in the last since_days days if given, and no event
    of `not_between` (its type and where) strictly between e1 and en if given."""

    steps: tuple[SequenceStep, ...]
    within_days: int | None = None
    since_days: int | None = None
    not_between: SequenceStep | None = None


@dataclass(frozen=True)
class SegmentRef:
    segment_id: int


@dataclass(frozen=True)
class SegmentTenure:
    """Time in segment: a member of segment `segment_id` (its maintained membership, not its
    filter) whose current membership began at least `days` days ago (`at_least`, JSON
    "for_at_least_days") or within the last `days` days (JSON "entered_within_days")."""

    segment_id: int
    days: int
    at_least: bool


@dataclass(frozen=True)
class ListRef:
    list_id: int


@dataclass(frozen=True)
class Bucket:
    """A random split: the lead's bucket (0-99, segmint.bucketing) is in [low, high)."""

    low: int
    high: int
    salt: str = ""


@dataclass(frozen=True)
class ManualRef:
    """The leads included in (`kind` "include") or excluded from ("exclude") a segment by hand.

    Never parsed from a filter: the engine adds it around a segment's filter when it turns the
    filter into the segment's membership, `(filter or included) and not excluded`
    (`parse.membership_tree`)."""

    segment_id: int
    kind: str


@dataclass(frozen=True)
class LeadsCondition:
    """An account's leads: between min_count and max_count of them match `where` (a lead
    filter). Only in an account segment's filter, where it is the one way to reach leads."""

    where: Node
    min_count: int = 1
    max_count: int | None = None


@dataclass(frozen=True)
class AccountSegmentRef:
    """A lead condition: the lead's account is a member of account segment `segment_id`."""

    segment_id: int


# Whose filter a tree is: the members of a lead segment are leads, of an account segment
# accounts. A `Condition` names a lead field in the one and an account field in the other.
LEADS = "leads"
ACCOUNTS = "accounts"
AUDIENCES = (LEADS, ACCOUNTS)


# A closed union: every walker over a tree is a `match` over these classes ending in
# `assert_never(node)`, so mypy names each place a new node type must be handled.
Node: TypeAlias = (
    And
    | Or
    | Not
    | Condition
    | EventCondition
    | DistinctEvents
    | EventSequence
    | SegmentRef
    | SegmentTenure
    | ListRef
    | ManualRef
    | LeadsCondition
    | AccountSegmentRef
    | Bucket
)
