"""The filter language: JSON and text syntax, validation, SQL compilation, Python evaluation.
Pure: it builds trees and SQL expressions and evaluates leads it is given, and reads nothing
(the engine's `filtering` module is its one adapter to the database).

tree = parse_filter(data, project, source)                              # or parse_text(...)
query = select_lead_ids(tree, project, now, dialect_name, source)       # SQL, set-wise
evaluate(tree, lead, events, now, project=project, segments=source)     # same answer
"""

from segmint.filters.evaluate import evaluate, explain
from segmint.filters.fields import (
    FieldSpec,
    FieldType,
    project_fields,
    resolve_event_field,
    resolve_field,
    standard_fields,
)
from segmint.filters.operators import OPERATORS, Operator, get_operator, operators_for
from segmint.filters.parse import parse_filter, stored_list_ids, stored_segment_ids, to_json
from segmint.filters.source import MemorySegmentSource, SegmentSource
from segmint.filters.syntax import parse_text, text_to_json, to_text
from segmint.filters.to_sql import compile_filter, event_predicates, select_lead_ids
from segmint.filters.tree import (
    And,
    Bucket,
    Condition,
    EventCondition,
    EventSequence,
    ListRef,
    Node,
    Not,
    Or,
    SegmentRef,
    SequenceStep,
)

__all__ = [
    "OPERATORS",
    "And",
    "Bucket",
    "Condition",
    "EventCondition",
    "EventSequence",
    "FieldSpec",
    "FieldType",
    "ListRef",
    "MemorySegmentSource",
    "Node",
    "Not",
    "Operator",
    "Or",
    "SegmentRef",
    "SegmentSource",
    "SequenceStep",
    "compile_filter",
    "evaluate",
    "event_predicates",
    "explain",
    "get_operator",
    "operators_for",
    "parse_filter",
    "parse_text",
    "project_fields",
    "resolve_event_field",
    "resolve_field",
    "select_lead_ids",
    "standard_fields",
    "stored_list_ids",
    "stored_segment_ids",
    "text_to_json",
    "to_json",
    "to_text",
]
