"""Every operator defines every backend; dialects define every piece; fields are complete."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from datetime import timedelta
from importlib import resources

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from segmint.engine.dependencies import read_set
from segmint.filters import (
    OPERATORS,
    FieldType,
    Operator,
    evaluate,
    flips,
    operators_for,
    parse_text,
    project_fields,
    syntax,
    text_to_json,
)
from segmint.filters.dialects import OVERRIDES, PY_WHITESPACE, Dialect, dialect_for
from segmint.filters.fields import resolve_field
from segmint.filters.operators import Shape, Timing
from segmint.filters.syntax import keywords, to_text
from segmint.filters.to_sql import compile_filter
from segmint.filters.tree import Condition
from segmint.model import LEAD_COLUMNS
from tests.filters.strategies import NOW
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
SQL_DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


def example(op: Operator, field_type: FieldType | None = None) -> Condition:
    """A valid condition using the operator (on the first of json, datetime, tags it takes)."""
    if field_type is None:
        field_type = next(t for t in (FieldType.JSON, FieldType.DATETIME, FieldType.TAGS)
                          if t in op.field_types)  # fmt: skip
    value = EXAMPLE_VALUE[op.shape]
    if op.shape in (Shape.SCALAR, Shape.PAIR) and field_type is FieldType.DATETIME:
        value = "2026-01-01" if op.shape is Shape.SCALAR else ("2026-01-01", "2026-02-01")
    return Condition(FIELD_FOR[field_type], op.key, value)


@pytest.mark.parametrize("key", sorted(OPERATORS))
def test_every_operator_defines_sql_python_and_text(key: str) -> None:
    op = OPERATORS[key]
    assert op.key == key and op.label and op.field_types
    assert callable(op.sql) and callable(op.python)
    assert isinstance(op.shape, Shape) and isinstance(op.timing, Timing)
    # lower-case words, or one symbol: the two forms the text syntax builds its grammar from
    assert re.fullmatch(r"[a-z]+( [a-z]+)*|[!#$%&*+:;<=>?@^|~]+", op.text), op.text
    if op.negates:
        positive = OPERATORS[op.negates]
        assert positive.negates is None
        assert positive.field_types == op.field_types and positive.shape == op.shape
        assert (positive.ordered, positive.timing) == (op.ordered, op.timing)
    tree = example(op)
    for name, dialect in SQL_DIALECTS.items():
        assert str(compile_filter(tree, P, NOW, name).compile(dialect=dialect))
    assert evaluate(tree, {}, [], NOW, project=P) in (True, False)
    text = to_text(tree)
    assert text.startswith(f"{tree.field} {op.text}")
    assert text_to_json(text)["op"] == key
    assert parse_text(text, P) == tree  # the spelling parses back to this operator


def test_spellings_are_distinct() -> None:
    spellings = [op.text for op in OPERATORS.values()]
    assert len(set(spellings)) == len(spellings)


def test_the_grammar_file_spells_no_operator() -> None:
    """Operator spellings live in the registry; syntax.py builds `condition` from them."""
    text = resources.files("segmint.filters").joinpath("grammar.lark").read_text("utf-8")
    rules = [line for line in text.splitlines() if not line.lstrip().startswith("//")]
    assert not any(re.match(r"\??condition\s*:", line) for line in rules)
    assert not any(line.startswith("CMP") for line in rules)
    assert not any(re.search(r'"(contains|between|null|older|has)"', line) for line in rules)


# -- adding an operator touches the registry alone ---------------------------------------------


@pytest.fixture
def add_operator() -> Iterator[Callable[[Operator], None]]:
    """Add an entry to the registry for one test (the text syntax rebuilds its grammar)."""
    added: list[str] = []

    def forget() -> None:
        for built in (syntax._grammar, syntax._parser, syntax.keywords, syntax._spellings):
            built.cache_clear()

    def add(op: Operator) -> None:
        assert op.key not in OPERATORS
        OPERATORS[op.key] = op
        added.append(op.key)
        forget()

    yield add
    for key in added:
        del OPERATORS[key]
    forget()


def _like(shape: Shape) -> Operator:
    return next(op for op in OPERATORS.values() if op.shape is shape and op.negates is None)


@pytest.mark.parametrize("shape", list(Shape))
def test_a_new_operator_of_any_shape_parses_and_prints(
    shape: Shape, add_operator: Callable[[Operator], None]
) -> None:
    word = "zz" + shape.value.replace("_", "")  # a keyword no one has
    op = replace(_like(shape), key=f"new_{shape.value}", text=f"nearly {word}")
    add_operator(op)
    tree = example(op)
    text = to_text(tree)
    assert text.startswith(f"{tree.field} nearly {word}")
    assert parse_text(text, P) == tree
    assert {"nearly", word} <= keywords()


def test_a_new_symbol_operator_parses_and_prints(add_operator: Callable[[Operator], None]) -> None:
    add_operator(replace(OPERATORS["eq"], key="about", text="~="))
    tree = Condition("enrichment.a", "about", 5)
    assert to_text(tree) == "enrichment.a ~= 5"
    assert parse_text("enrichment.a ~= 5", P) == tree
    assert parse_text("enrichment.a >= 5", P) == Condition("enrichment.a", "gte", 5)


def test_a_new_time_relative_operator_makes_segments_time_dependent(
    add_operator: Callable[[Operator], None],
) -> None:
    add_operator(replace(OPERATORS["eq"], key="on_day", text="on day", timing=Timing.CALENDAR))
    tree = Condition("created_at", "on_day", "2026-01-01")
    assert read_set(tree, lambda _id: None).time_dependent
    assert flips.triggers(tree, P, None) == [flips.MIDNIGHTS]


# -- the time-relative operators are the ones flips and read sets treat as such ----------------


@pytest.mark.parametrize("key", sorted(OPERATORS))
def test_time_relative_is_what_read_sets_and_flips_use(key: str) -> None:
    op = OPERATORS[key]
    field_type = FieldType.DATETIME if FieldType.DATETIME in op.field_types else None
    tree = example(op, field_type)
    assert read_set(tree, lambda _id: None).time_dependent == op.time_relative
    assert bool(flips.triggers(tree, P, None)) == op.time_relative


@pytest.mark.parametrize("key", sorted(k for k, op in OPERATORS.items() if op.time_relative))
def test_flip_instants_follow_the_operator_timing(key: str) -> None:
    op = OPERATORS[key]
    tree = example(op, FieldType.DATETIME)
    found = flips.triggers(tree, P, None)
    value = NOW - timedelta(days=3)
    start, end = NOW - timedelta(days=5), NOW + timedelta(days=10)
    instants = flips.flip_instants(found, {"created_at": value}, [], P.zone, start, end)
    days = timedelta(days=EXAMPLE_VALUE[Shape.DAYS])  # type: ignore[arg-type]
    expected = {
        Timing.WINDOW: [value, value + days],
        Timing.AGE: [value + days],
        Timing.CALENDAR: flips.midnights(start, end, P.zone),
    }
    assert instants == expected[op.timing]
    if op.rolling:  # on a date field, a rolling operator flips at midnights
        on_date = Condition("custom.renewal", key, tree.value)
        assert flips.triggers(on_date, P, None) == [flips.MIDNIGHTS]


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
