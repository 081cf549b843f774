"""A filter in words: each node with the labels a person reads ("Company size", "is at least")
and the names of the segments and lists it refers to, for a segment's page and the builder's
summary. The shape is explain's without a lead: the UI writes both with the same code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, assert_never

from segmint.filters.evaluate import bucket_words, condition_words, event_words, tenure_words
from segmint.filters.fields import resolve_event_field, resolve_field
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
    SegmentRef,
    SegmentTenure,
)
from segmint.projects import Project

# The name of a segment or list by id, or None once it is gone.
Names = Callable[[int], str | None]


def describe(
    node: Node, project: Project, segment_name: Names, list_name: Names, in_event: bool = False
) -> dict[str, Any]:
    def again(child: Node, inside_event: bool = in_event) -> dict[str, Any]:
        return describe(child, project, segment_name, list_name, inside_event)

    match node:
        case And(children):
            return {"type": "and", "children": [again(child) for child in children]}
        case Or(children):
            return {"type": "or", "children": [again(child) for child in children]}
        case Not(child):
            return {"type": "not", "child": again(child)}
        case Condition():
            return _condition(node, project, in_event)
        case EventCondition():
            where = again(node.where, True) if node.where is not None else None
            return {**event_words(node), "where": where}
        case SegmentRef(segment_id):
            name = segment_name(segment_id)
            return {"type": "in_segment", "segment_id": segment_id, "name": name}
        case SegmentTenure(segment_id):
            return {**tenure_words(node), "name": segment_name(segment_id)}
        case ListRef(list_id):
            return {"type": "in_list", "list_id": list_id, "name": list_name(list_id)}
        case ManualRef(segment_id, kind):
            return {"type": "manual", "segment_id": segment_id, "kind": kind}
        case Bucket():
            return bucket_words(node)
        case _:
            assert_never(node)


def _condition(node: Condition, project: Project, in_event: bool) -> dict[str, Any]:
    # Inside an event's `where` a field is a path into the event's metadata.
    spec = resolve_event_field(node.field) if in_event else resolve_field(node.field, project)
    return condition_words(node, spec)
