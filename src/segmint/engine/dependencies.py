"""What a segment's filter reads, so a write re-evaluates only the segments it can affect.

A phone change must not re-evaluate segments about status: each segment's read set names the
lead columns, event types, segments and lists its filter looks at (through `in_segment`, the
referenced segments' reads too) and whether the passing of time alone can change it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, assert_never

from segmint.filters.operators import get_operator
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

# Lead columns behind the derived and nested field names of the filter language.
_DERIVED = {"name": ("first_name", "last_name"), "enrichment_status": ("enrichment",)}
_PREFIXES = {"enrichment.": "enrichment", "custom.": "custom", "account.": "account_id"}


@dataclass
class ReadSet:
    columns: set[str] = field(default_factory=set)
    event_types: set[str] = field(default_factory=set)
    segments: set[int] = field(default_factory=set)
    lists: set[int] = field(default_factory=set)
    manual: set[int] = field(default_factory=set)  # segments whose manual members it reads
    # segments whose maintained membership it reads (time in segment): a sync of those must
    # come first, see membership.sync_leads
    tenure: set[int] = field(default_factory=set)
    reads_accounts: bool = False
    time_dependent: bool = False
    # Reaches an account segment (`in_account_segment`): a lead's answer depends on every lead
    # of its account, so any write may matter, to the written leads' fellow leads too.
    account_wide: bool = False
    any_event_type: bool = False  # distinct_events without `types`: every event matters

    def touched_by(self, columns: set[str] | None, event_types: set[str]) -> bool:
        """Whether a write of these lead columns (None: a new or deleted lead) or events matters."""
        if columns is None or self.account_wide:
            return True
        if self.any_event_type and event_types:
            return True
        return bool(self.columns & columns) or bool(self.event_types & event_types)


def lead_columns(field_name: str) -> tuple[str, ...]:
    if field_name in _DERIVED:
        return _DERIVED[field_name]
    for prefix, column in _PREFIXES.items():
        if field_name.startswith(prefix):
            return (column,)
    return (field_name,)


def read_set(node: Node, stored_tree: Callable[[int], Node | None]) -> ReadSet:
    """The read set of a tree; `stored_tree` resolves `in_segment` references."""
    reads = ReadSet()
    _collect(node, reads, stored_tree, set())
    return reads


def _collect(
    node: Node, reads: ReadSet, stored_tree: Callable[[int], Node | None], seen: set[int]
) -> None:
    match node:
        case And(children) | Or(children):
            for child in children:
                _collect(child, reads, stored_tree, seen)
        case Not(child):
            _collect(child, reads, stored_tree, seen)
        case Condition():
            reads.columns.update(lead_columns(node.field))
            reads.reads_accounts |= node.field.startswith("account.")
            reads.time_dependent |= get_operator(node.op).time_relative
        case EventCondition():
            reads.event_types.add(node.type)
            reads.time_dependent |= node.within_days is not None
            reads.time_dependent |= node.older_than_days is not None
        case DistinctEvents():
            if node.types is None:
                reads.any_event_type = True
            else:
                reads.event_types.update(node.types)
            reads.time_dependent |= node.within_days is not None
        case EventSequence():
            reads.event_types.update(step.type for step in node.steps)
            if node.not_between is not None:  # an excluded event arriving can end a match
                reads.event_types.add(node.not_between.type)
            # Only since_days reads the clock: within_days measures between the events.
            reads.time_dependent |= node.since_days is not None
        case SegmentRef(segment_id):
            reads.segments.add(segment_id)
            inner = stored_tree(segment_id) if segment_id not in seen else None
            if inner is not None:
                _collect(inner, reads, stored_tree, seen | {segment_id})
        case SegmentTenure(segment_id):
            # Whatever can change the segment's members can change this answer, so its reads
            # are this one's too (a write re-syncs both, the segment first); and time passing.
            reads.segments.add(segment_id)
            reads.tenure.add(segment_id)
            reads.time_dependent = True
            inner = stored_tree(segment_id) if segment_id not in seen else None
            if inner is not None:
                _collect(inner, reads, stored_tree, seen | {segment_id})
        case ListRef(list_id):
            reads.lists.add(list_id)
        case ManualRef(segment_id):
            reads.manual.add(segment_id)
        case LeadsCondition():
            _collect(node.where, reads, stored_tree, seen)
        case AccountSegmentRef(segment_id):
            # Whether the lead's account is a member: any write of a lead re-evaluates the
            # leads of its account (maintenance.apply_lead_writes widens them), an account's
            # write re-evaluates its leads (as a write of their account_id).
            reads.segments.add(segment_id)
            reads.columns.add("account_id")
            reads.reads_accounts = True
            reads.account_wide = True
        case Bucket():
            pass  # the lead's id alone: set when the lead is created, never changed
        case _:
            assert_never(node)


def summary(reads: ReadSet) -> dict[str, Any]:
    """JSON-friendly form (for explain panels and debugging)."""
    return {
        "columns": sorted(reads.columns),
        "event_types": sorted(reads.event_types),
        "any_event_type": reads.any_event_type,
        "segments": sorted(reads.segments),
        "lists": sorted(reads.lists),
        "time_dependent": reads.time_dependent,
    }
