"""Every operator defines every backend; dialects define every piece; fields are complete."""

from __future__ import annotations

import sys
from dataclasses import fields

import pytest

from segmint.filters import OPERATORS, FieldType, operators_for, parse_text, project_fields
from segmint.filters.dialects import OVERRIDES, PY_WHITESPACE, Dialect, dialect_for
from segmint.filters.fields import resolve_field
from segmint.filters.operators import Shape
from segmint.filters.syntax import to_text
from segmint.filters.tree import Condition
from segmint.model import LEAD_COLUMNS
from tests.filters.strategies import OFFLINE_PROJECT as P

EXAMPLE_VALUE = {
    Shape.NONE: None,
    Shape.SCALAR: 5,
    Shape.LIST: (1, 2),
    Shape.TEXT_OR_LIST: "x",
    Shape.PAIR: (1, 2),
    Shape.DAYS: 7,
    Shape.PERIOD: "this_month",
    Shape.STRINGS: ("a", "b"),
}
FIELD_FOR = {
    FieldType.JSON: "enrichment.a",
    FieldType.DATETIME: "created_at",
    FieldType.TAGS: "tags",
}


@pytest.mark.parametrize("key", sorted(OPERATORS))
def test_every_operator_defines_sql_python_and_text(key: str) -> None:
    op = OPERATORS[key]
    assert op.key == key and op.label and op.field_types
    assert callable(op.sql) and callable(op.python)
    assert op.text and op.text == op.text.strip()
    if op.negates:
        assert OPERATORS[op.negates].negates is None
        assert OPERATORS[op.negates].field_types == op.field_types
    field_type = next(t for t in (FieldType.JSON, FieldType.DATETIME, FieldType.TAGS)
                      if t in op.field_types)  # fmt: skip
    value = EXAMPLE_VALUE[op.shape]
    if op.shape in (Shape.SCALAR, Shape.PAIR) and field_type is FieldType.DATETIME:
        value = "2026-01-01" if op.shape is Shape.SCALAR else ("2026-01-01", "2026-02-01")
    tree = Condition(FIELD_FOR[field_type], key, value)
    assert parse_text(to_text(tree), P) == tree  # the spelling parses back to this operator


@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_every_dialect_defines_every_piece(name: str) -> None:
    dialect = dialect_for(name)
    for piece in fields(Dialect):
        assert getattr(dialect, piece.name) is not None
    for piece in ("fold", "json_text", "json_number", "json_bool", "json_present",
                  "json_elements", "json_non_empty_object"):  # fmt: skip
        assert piece in OVERRIDES[name], f"{name} must override {piece}"


def test_unknown_dialect_fails_loudly() -> None:
    with pytest.raises(ValueError, match="mysql"):
        dialect_for("mysql")


def test_whitespace_matches_python_strip() -> None:
    import unicodedata

    spaces = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    after_nfkc = {c for c in spaces if unicodedata.normalize("NFKC", c).isspace()}
    assert after_nfkc <= set(PY_WHITESPACE) <= spaces


def test_every_lead_column_is_a_field() -> None:
    names = {spec.name for spec in project_fields(P)}
    assert set(LEAD_COLUMNS) <= names
    assert {"name", "enrichment_status", "account.name", "account.domain", "custom.seats",
            "account.engagement_level", "account.profile_level"} <= names  # fmt: skip
    assert resolve_field("status", P).options == P.statuses


def test_operators_per_field_type() -> None:
    keys = lambda t: {op.key for op in operators_for(t)}  # noqa: E731
    assert "has_any" in keys(FieldType.TAGS) and "gt" not in keys(FieldType.TAGS)
    assert "has_any" not in keys(FieldType.SELECT) and "eq" in keys(FieldType.SELECT)
    assert "in_period" in keys(FieldType.DATETIME) and "contains" not in keys(FieldType.NUMBER)
    assert all(keys(t) for t in FieldType)
