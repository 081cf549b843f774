"""A filter in words: each node with the labels a person reads ("Company size", "is at least")
and the names of the segments and lists it refers to, for a segment's page and the builder's
summary. The shape is explain's without a lead: the UI writes both with the same code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, assert_never

from segmint.filters.evaluate import (
    bucket_words,
    condition_words,
    distinct_events_words,
    event_words,
    leads_words,
    sequence_words,
    tenure_words,
)
from segmint.filters.fields import resolve_account_field, resolve_event_field, resolve_field
from segmint.filters.tree import (
    ACCOUNTS,
    LEADS,
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

# The name of a segment or list by id, or None once it is gone.
Names = Callable[[int], str | None]


def describe(
    node: Node,
    project: Project,
    segment_name: Names,
    list_name: Names,
    in_event: bool = False,
    audience: str = LEADS,
) -> dict[str, Any]:
    def again(child: Node, inside_event: bool = in_event, inside: str = audience) -> dict[str, Any]:
        return describe(child, project, segment_name, list_name, inside_event, inside)

    match node:
        case And(children):
            return {"type": "and", "children": [again(child) for child in children]}
        case Or(children):
            return {"type": "or", "children": [again(child) for child in children]}
        case Not(child):
            return {"type": "not", "child": again(child)}
        case Condition():
            return _condition(node, project, in_event, audience)
        case EventCondition():
            where = again(node.where, True) if node.where is not None else None
            return {**event_words(node), "where": where}
        case DistinctEvents():
            return distinct_events_words(node)
        case EventSequence():
            words = sequence_words(node)
            for step, described in zip(node.steps, words["steps"], strict=True):
                described["where"] = again(step.where, True) if step.where is not None else None
            excluded = node.not_between
            if excluded is not None:
                where = again(excluded.where, True) if excluded.where is not None else None
                words["not_between"]["where"] = where
            return words
        case SegmentRef(segment_id):
            name = segment_name(segment_id)
            return {"type": "in_segment", "segment_id": segment_id, "name": name}
        case SegmentTenure(segment_id):
            return {**tenure_words(node), "name": segment_name(segment_id)}
        case ListRef(list_id):
            return {"type": "in_list", "list_id": list_id, "name": list_name(list_id)}
        case ManualRef(segment_id, kind):
            return {"type": "manual", "segment_id": segment_id, "kind": kind}
        case LeadsCondition():
            return {**leads_words(node), "where": again(node.where, inside=LEADS)}
        case AccountSegmentRef(segment_id):
            name = segment_name(segment_id)
            return {"type": "in_account_segment", "segment_id": segment_id, "name": name}
        case Bucket():
            return bucket_words(node)
        case _:
            assert_never(node)


def _condition(node: Condition, project: Project, in_event: bool, audience: str) -> dict[str, Any]:
    # Inside an event's `where` a field is a path into the event's metadata.
    if in_event:
        spec = resolve_event_field(node.field)
    elif audience == ACCOUNTS:
        spec = resolve_account_field(node.field)
    else:
        spec = resolve_field(node.field, project)
    return condition_words(node, spec)
