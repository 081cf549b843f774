"""The filter language: JSON and text syntax, validation, SQL compilation, Python evaluation.

tree = parse_filter(data, project, DbSegmentSource(conn, project.id))   # or parse_text(...)
query = select_lead_ids(tree, project, now, conn.dialect.name, source)  # SQL, set-wise
evaluate(tree, lead, events, now, project=project, segments=source)     # same answer
"""

from segmint.filters.database import (
    explain_lead,
    lead_condition,
    lead_ids_query,
    load_lead,
    validate,
)
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
from segmint.filters.parse import parse_filter, stored_segment_ids, to_json
from segmint.filters.source import DbSegmentSource, MemorySegmentSource, SegmentSource
from segmint.filters.syntax import parse_text, text_to_json, to_text
from segmint.filters.to_sql import compile_filter, event_predicates, select_lead_ids
from segmint.filters.tree import (
    And,
    Condition,
    EventCondition,
    ListRef,
    Node,
    Not,
    Or,
    SegmentRef,
)

__all__ = [
    "OPERATORS",
    "And",
    "Condition",
    "DbSegmentSource",
    "EventCondition",
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
    "compile_filter",
    "evaluate",
    "event_predicates",
    "explain",
    "explain_lead",
    "get_operator",
    "lead_condition",
    "lead_ids_query",
    "load_lead",
    "operators_for",
    "parse_filter",
    "parse_text",
    "project_fields",
    "resolve_event_field",
    "resolve_field",
    "select_lead_ids",
    "standard_fields",
    "stored_segment_ids",
    "text_to_json",
    "to_json",
    "to_text",
    "validate",
]
