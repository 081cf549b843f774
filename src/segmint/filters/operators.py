"""THE operator registry: one entry per operator with its SQL, Python and vector forms.

Most operators are described once, as `terms`: an OR of ANDs of primitive comparisons
(view, primitive, argument), e.g. `created_at eq "2024-01-31"` is
`[(instant >= day start AND instant < next day start)]`. The SQL builder and the Python
predicate both interpret the same terms, which is what keeps the backends in agreement.
Negated operators (neq, not_in, ...) are defined as NOT of their positive operator, so they are
exact complements by construction. Field values are read through an operand (to_sql.SqlOperand,
evaluate.PyOperand, the columnar index's VecOperand) that hides where the value lives (a column,
a JSON path, an account row). A vector form answers for many values at once: a boolean array
with one answer per value of the operand (the distinct values of a dictionary-encoded column,
or every row of a numeric one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final, Protocol

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from segmint.filters.fields import FieldSpec, FieldType
from segmint.filters.timing import (
    TimeContext,
    date_key,
    day_start,
    instant_range,
    local_date,
    period_dates,
)
from segmint.filters.tree import Scalar, Value
from segmint.folding import fold


class View(StrEnum):
    """How a stored value is read for one comparison; anything else reads as null."""

    TEXT = "text"  # folded (NFKC, trimmed, case-folded) non-blank string
    # Untyped JSON: the TEXT of a string, or of any string element of an array. A path has no
    # declared type, and `technologies contains "sales"` means its elements to whoever writes it.
    ANY_TEXT = "any_text"
    NUMBER = "number"
    BOOLEAN = "boolean"  # 'true' / 'false'
    INSTANT = "instant"  # a timestamp column (UTC)
    DATE = "date"  # the first 10 characters of an ISO date string


class Shape(StrEnum):
    """What an operator's value looks like (validated in parse.py, printed in syntax.py)."""

    NONE = "none"
    SCALAR = "scalar"
    LIST = "list"
    TEXT_OR_LIST = "text_or_list"
    PAIR = "pair"
    DAYS = "days"
    PERIOD = "period"
    STRINGS = "strings"


class Timing(StrEnum):
    """Whether the passing of time alone can change an operator's answer, and when (flips.py)."""

    NONE = "none"  # only a write changes the answer
    WINDOW = "window"  # `value within the last N days`: flips at the value and N days after it
    AGE = "age"  # `value more than N days ago`: flips N days after the value
    CALENDAR = "calendar"  # a calendar period of the project's zone: flips at local midnights


Term = tuple[View, str, Any]
Terms = tuple[tuple[Term, ...], ...]  # any of (all of (term))


class SqlOperand(Protocol):
    def view(self, kind: View) -> ColumnElement[Any]: ...

    def present(self) -> ColumnElement[bool]: ...

    # Some string element of an array here, read as TEXT, satisfies the primitive.
    def any_element(self, primitive: str, argument: Any) -> ColumnElement[bool]: ...

    def has_elements(self, values: tuple[str, ...], every: bool) -> ColumnElement[bool]: ...

    def scope(self, predicate: ColumnElement[bool]) -> ColumnElement[bool]: ...

    def flipped(self) -> SqlOperand: ...


class PyOperand(Protocol):
    def view(self, kind: View) -> Any: ...

    def present(self) -> bool: ...

    def elements(self) -> frozenset[str]: ...

    def any_element(self, primitive: str, argument: Any) -> bool: ...


class VecValues(Protocol):
    """Many values read in one view (segmint.index.vectors): `compare` answers a primitive for
    each of them at once, False wherever the value is null in this view."""

    def compare(self, primitive: str, argument: Any) -> Any: ...


class VecOperand(Protocol):
    """Many stored values at once (the columnar index); answers are boolean numpy arrays."""

    def view(self, kind: View) -> VecValues: ...

    def present(self) -> Any: ...

    def has_elements(self, values: tuple[str, ...], every: bool) -> Any: ...

    def any_element(self, primitive: str, argument: Any) -> Any: ...

    def nothing(self) -> Any: ...  # all False: the answer of an empty OR


SqlBuilder = Callable[[SqlOperand, FieldSpec, Value, TimeContext], ColumnElement[bool]]
PyPredicate = Callable[[PyOperand, FieldSpec, Value, TimeContext], bool]
VecBuilder = Callable[[VecOperand, FieldSpec, Value, TimeContext], Any]
TermsBuilder = Callable[[FieldSpec, Value, TimeContext], Terms]


@dataclass(frozen=True)
class Operator:
    key: str
    label: str
    text: str  # spelling in the text syntax: lower-case words, or one symbol such as `>=`
    shape: Shape
    field_types: frozenset[FieldType]
    sql: SqlBuilder
    python: PyPredicate
    vector: VecBuilder
    negates: str | None = None  # the positive operator this one is the exact complement of
    ordered: bool = False  # compares by order: on untyped JSON its values must be numbers
    timing: Timing = Timing.NONE

    @property
    def time_relative(self) -> bool:
        """The answer can change with no write at all, as `now` moves on."""
        return self.timing is not Timing.NONE

    @property
    def rolling(self) -> bool:
        """Time-relative by a number of days counted back from `now` (not by the calendar)."""
        return self.timing in (Timing.WINDOW, Timing.AGE)


def _escape_like(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bind(value: Any) -> Any:
    # Numbers are bound as floats: SQLAlchemy would otherwise type `50` as INTEGER and
    # PostgreSQL would then cast 12.5 in the same IN list to 12.
    if _is_number(value):
        return sa.literal(value, sa.Float)
    return value


def _bind_list(values: tuple[Any, ...]) -> Any:
    if all(_is_number(v) for v in values):
        return sa.bindparam(None, list(values), expanding=True, type_=sa.Float)
    return values


SQL_PRIMITIVES: Final[dict[str, Callable[[ColumnElement[Any], Any], ColumnElement[bool]]]] = {
    "eq": lambda v, a: v == _bind(a),
    "gt": lambda v, a: v > _bind(a),
    "ge": lambda v, a: v >= _bind(a),
    "lt": lambda v, a: v < _bind(a),
    "le": lambda v, a: v <= _bind(a),
    "in": lambda v, a: v.in_(_bind_list(a)),
    "contains": lambda v, a: v.like(f"%{_escape_like(a)}%", escape="/"),
    "starts": lambda v, a: v.like(f"{_escape_like(a)}%", escape="/"),
    "ends": lambda v, a: v.like(f"%{_escape_like(a)}", escape="/"),
}

PY_PRIMITIVES: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": lambda v, a: bool(v == a),
    "gt": lambda v, a: bool(v > a),
    "ge": lambda v, a: bool(v >= a),
    "lt": lambda v, a: bool(v < a),
    "le": lambda v, a: bool(v <= a),
    "in": lambda v, a: v in a,
    "contains": lambda v, a: a in v,
    "starts": lambda v, a: bool(v.startswith(a)),
    "ends": lambda v, a: bool(v.endswith(a)),
}


def scalar_view(field_type: FieldType, value: Scalar) -> View:
    """The view a scalar is compared in: fixed by a typed field, by the value for JSON."""
    fixed = {
        FieldType.TEXT: View.TEXT,
        FieldType.SELECT: View.TEXT,
        FieldType.NUMBER: View.NUMBER,
        FieldType.DATETIME: View.INSTANT,
        FieldType.DATE: View.DATE,
        FieldType.BOOLEAN: View.BOOLEAN,
    }
    if field_type in fixed:
        return fixed[field_type]
    if isinstance(value, bool):
        return View.BOOLEAN
    return View.ANY_TEXT if isinstance(value, str) else View.NUMBER


def text_view(field_type: FieldType) -> View:
    """The view the text operators read: untyped JSON also reads an array's string elements."""
    return View.ANY_TEXT if field_type is FieldType.JSON else View.TEXT


def _argument(view: View, value: Scalar) -> Any:
    if view in (View.TEXT, View.ANY_TEXT):
        return fold(value)
    if view is View.BOOLEAN:
        return "true" if value else "false"
    if view is View.DATE:
        return date_key(str(value))
    return value


def _as_tuple(value: Value) -> tuple[Scalar, ...]:
    if isinstance(value, tuple):
        return value
    assert value is not None, "validated: the operator takes a value"
    return (value,)


# -- terms -------------------------------------------------------------------------------------

# For a timestamp, a value is a range [lo, hi): a whole local day for a date, one instant for a
# datetime. Each comparison then reads off the right bound.
_INSTANT_BOUNDS: Final = {
    "eq": (("ge", 0), ("lt", 1)),
    "gt": (("ge", 1),),
    "gte": (("ge", 0),),
    "lt": (("lt", 0),),
    "lte": (("lt", 1),),
}
_POINT: Final = {"eq": "eq", "gt": "gt", "gte": "ge", "lt": "lt", "lte": "le"}


def _compare_terms(key: str) -> TermsBuilder:
    def terms(spec: FieldSpec, value: Value, tc: TimeContext) -> Terms:
        assert value is not None and not isinstance(value, tuple)
        view = scalar_view(spec.type, value)
        if view is View.INSTANT:
            bounds = instant_range(str(value), tc.zone)
            return (tuple((view, prim, bounds[i]) for prim, i in _INSTANT_BOUNDS[key]),)
        return (((view, _POINT[key], _argument(view, value)),),)

    return terms


def _in_terms(spec: FieldSpec, value: Value, tc: TimeContext) -> Terms:
    groups: dict[View, list[Any]] = {}
    for item in _as_tuple(value):
        view = scalar_view(spec.type, item)
        groups.setdefault(view, []).append(_argument(view, item))
    return tuple(((view, "in", tuple(args)),) for view, args in groups.items())


def _text_terms(primitive: str) -> TermsBuilder:
    def terms(spec: FieldSpec, value: Value, tc: TimeContext) -> Terms:
        view = text_view(spec.type)
        return tuple(((view, primitive, fold(item)),) for item in _as_tuple(value))

    return terms


def _between_terms(spec: FieldSpec, value: Value, tc: TimeContext) -> Terms:
    low, high = _as_tuple(value)
    view = scalar_view(spec.type, low)
    if view is View.INSTANT:
        start = instant_range(str(low), tc.zone)[0]
        end = instant_range(str(high), tc.zone)[1]
        return (((view, "ge", start), (view, "lt", end)),)
    return (((view, "ge", _argument(view, low)), (view, "le", _argument(view, high))),)


def _days_ago(value: Value, tc: TimeContext) -> Any:
    assert isinstance(value, int | float)
    return tc.now - timedelta(days=value)


def _within_last_terms(spec: FieldSpec, value: Value, tc: TimeContext) -> Terms:
    since = _days_ago(value, tc)
    if spec.type is FieldType.DATE:
        today = local_date(tc.now, tc.zone).isoformat()
        start = local_date(since, tc.zone).isoformat()
        return (((View.DATE, "ge", start), (View.DATE, "le", today)),)
    return (((View.INSTANT, "ge", since), (View.INSTANT, "le", tc.now)),)


def _older_than_terms(spec: FieldSpec, value: Value, tc: TimeContext) -> Terms:
    since = _days_ago(value, tc)
    if spec.type is FieldType.DATE:
        return (((View.DATE, "lt", local_date(since, tc.zone).isoformat()),),)
    return (((View.INSTANT, "lt", since),),)


def _in_period_terms(spec: FieldSpec, value: Value, tc: TimeContext) -> Terms:
    first, after = period_dates(str(value), tc)
    if spec.type is FieldType.DATE:
        return (((View.DATE, "ge", first.isoformat()), (View.DATE, "lt", after.isoformat())),)
    start, end = day_start(first, tc.zone), day_start(after, tc.zone)
    return (((View.INSTANT, "ge", start), (View.INSTANT, "lt", end)),)


# -- builders ----------------------------------------------------------------------------------


# ANY_TEXT is TEXT or any string element, on every backend alike. A term of it is always alone
# in its conjunction (text operators compare once), so "some element" is decided per term.


def _sql_term(operand: SqlOperand, view: View, prim: str, arg: Any) -> ColumnElement[bool]:
    if view is View.ANY_TEXT:
        scalar = _sql_term(operand, View.TEXT, prim, arg)
        return sa.or_(scalar, operand.any_element(prim, arg))
    return SQL_PRIMITIVES[prim](operand.view(view), arg)


def _sql_terms(operand: SqlOperand, terms: Terms) -> ColumnElement[bool]:
    return sa.or_(*(sa.and_(*(_sql_term(operand, *term) for term in conj)) for conj in terms))


def _py_terms(operand: PyOperand, terms: Terms) -> bool:
    def holds(view: View, prim: str, arg: Any) -> bool:
        if view is View.ANY_TEXT:
            return holds(View.TEXT, prim, arg) or operand.any_element(prim, arg)
        current = operand.view(view)
        return current is not None and PY_PRIMITIVES[prim](current, arg)

    return any(all(holds(*term) for term in conj) for conj in terms)


def _vec_term(operand: VecOperand, view: View, prim: str, arg: Any) -> Any:
    if view is View.ANY_TEXT:
        return _vec_term(operand, View.TEXT, prim, arg) | operand.any_element(prim, arg)
    return operand.view(view).compare(prim, arg)


def _vec_terms(operand: VecOperand, terms: Terms) -> Any:
    answer = operand.nothing()
    for conj in terms:
        held = None
        for term in conj:
            hit = _vec_term(operand, *term)
            held = hit if held is None else held & hit
        if held is not None:
            answer = answer | held
    return answer


Forms = tuple[SqlBuilder, PyPredicate, VecBuilder]


def _by_terms(build: TermsBuilder) -> Forms:
    def sql(operand: SqlOperand, spec: FieldSpec, value: Value, tc: TimeContext) -> Any:
        return operand.scope(_sql_terms(operand, build(spec, value, tc)))

    def python(operand: PyOperand, spec: FieldSpec, value: Value, tc: TimeContext) -> bool:
        return _py_terms(operand, build(spec, value, tc))

    def vector(operand: VecOperand, spec: FieldSpec, value: Value, tc: TimeContext) -> Any:
        return _vec_terms(operand, build(spec, value, tc))

    return sql, python, vector


def _folded_set(value: Value) -> tuple[str, ...]:
    return tuple(sorted({fold(item) or "" for item in _as_tuple(value)}))


def _by_elements(every: bool) -> Forms:
    def sql(operand: SqlOperand, spec: FieldSpec, value: Value, tc: TimeContext) -> Any:
        return operand.scope(operand.has_elements(_folded_set(value), every))

    def python(operand: PyOperand, spec: FieldSpec, value: Value, tc: TimeContext) -> bool:
        wanted, have = set(_folded_set(value)), operand.elements()
        return wanted <= have if every else bool(wanted & have)

    def vector(operand: VecOperand, spec: FieldSpec, value: Value, tc: TimeContext) -> Any:
        return operand.has_elements(_folded_set(value), every)

    return sql, python, vector


def _by_presence() -> Forms:
    def sql(operand: SqlOperand, spec: FieldSpec, value: Value, tc: TimeContext) -> Any:
        return operand.scope(operand.present())

    def python(operand: PyOperand, spec: FieldSpec, value: Value, tc: TimeContext) -> bool:
        return operand.present()

    def vector(operand: VecOperand, spec: FieldSpec, value: Value, tc: TimeContext) -> Any:
        return operand.present()

    return sql, python, vector


# -- the registry ------------------------------------------------------------------------------

_T = FieldType
_EQUALITY: Final = frozenset(
    {_T.TEXT, _T.SELECT, _T.NUMBER, _T.DATETIME, _T.DATE, _T.BOOLEAN, _T.JSON}
)
_MEMBERSHIP: Final = frozenset({_T.TEXT, _T.SELECT, _T.NUMBER, _T.JSON})
_TEXTUAL: Final = frozenset({_T.TEXT, _T.JSON})
_ORDERED: Final = frozenset({_T.NUMBER, _T.DATETIME, _T.DATE, _T.JSON})
_TEMPORAL: Final = frozenset({_T.DATETIME, _T.DATE})
_LISTS: Final = frozenset({_T.TAGS, _T.JSON})
_ALL: Final = frozenset(FieldType)


def _positive(
    key: str,
    label: str,
    text: str,
    shape: Shape,
    types: frozenset[FieldType],
    forms: Forms,
    *,
    ordered: bool = False,
    timing: Timing = Timing.NONE,
) -> Operator:
    return Operator(key, label, text, shape, types, *forms, ordered=ordered, timing=timing)


def _negation(key: str, label: str, text: str, of: Operator) -> Operator:
    def sql(operand: SqlOperand, spec: FieldSpec, value: Value, tc: TimeContext) -> Any:
        return sa.not_(of.sql(operand.flipped(), spec, value, tc))

    def python(operand: PyOperand, spec: FieldSpec, value: Value, tc: TimeContext) -> bool:
        return not of.python(operand, spec, value, tc)

    def vector(operand: VecOperand, spec: FieldSpec, value: Value, tc: TimeContext) -> Any:
        return ~of.vector(operand, spec, value, tc)

    return Operator(
        key,
        label,
        text,
        of.shape,
        of.field_types,
        sql,
        python,
        vector,
        negates=of.key,
        ordered=of.ordered,
        timing=of.timing,  # the complement flips at the same instants
    )


def _ordered(key: str, label: str, text: str) -> Operator:
    forms = _by_terms(_compare_terms(key))
    return _positive(key, label, text, Shape.SCALAR, _ORDERED, forms, ordered=True)


def _build_registry() -> dict[str, Operator]:
    eq = _positive("eq", "is", "=", Shape.SCALAR, _EQUALITY, _by_terms(_compare_terms("eq")))
    in_ = _positive("in", "is any of", "in", Shape.LIST, _MEMBERSHIP, _by_terms(_in_terms))
    contains = _positive(
        "contains",
        "contains",
        "contains",
        Shape.TEXT_OR_LIST,
        _TEXTUAL,
        _by_terms(_text_terms("contains")),
    )
    between = _positive(
        "between",
        "is between",
        "between",
        Shape.PAIR,
        _ORDERED,
        _by_terms(_between_terms),
        ordered=True,
    )
    has_any = _positive(
        "has_any", "has any of", "has any", Shape.STRINGS, _LISTS, _by_elements(False)
    )
    is_not_null = _positive(
        "is_not_null", "is known", "is not null", Shape.NONE, _ALL, _by_presence()
    )
    entries = [
        eq,
        _negation("neq", "is not", "!=", eq),
        in_,
        _negation("not_in", "is none of", "not in", in_),
        contains,
        _negation("not_contains", "does not contain", "not contains", contains),
        _positive(
            "starts_with",
            "starts with",
            "starts with",
            Shape.TEXT_OR_LIST,
            _TEXTUAL,
            _by_terms(_text_terms("starts")),
        ),
        _positive(
            "ends_with",
            "ends with",
            "ends with",
            Shape.TEXT_OR_LIST,
            _TEXTUAL,
            _by_terms(_text_terms("ends")),
        ),
        _ordered("gt", "is greater than", ">"),
        _ordered("gte", "is at least", ">="),
        _ordered("lt", "is less than", "<"),
        _ordered("lte", "is at most", "<="),
        between,
        _negation("not_between", "is not between", "not between", between),
        is_not_null,
        _negation("is_null", "is unknown", "is null", is_not_null),
        _positive("has_all", "has all of", "has all", Shape.STRINGS, _LISTS, _by_elements(True)),
        has_any,
        _negation("has_none", "has none of", "has none", has_any),
        _positive(
            "within_last",
            "is within the last (days)",
            "within last",
            Shape.DAYS,
            _TEMPORAL,
            _by_terms(_within_last_terms),
            timing=Timing.WINDOW,
        ),
        _positive(
            "older_than",
            "is more than (days) ago",
            "older than",
            Shape.DAYS,
            _TEMPORAL,
            _by_terms(_older_than_terms),
            timing=Timing.AGE,
        ),
        _positive(
            "in_period",
            "is in period",
            "in period",
            Shape.PERIOD,
            _TEMPORAL,
            _by_terms(_in_period_terms),
            timing=Timing.CALENDAR,
        ),
    ]
    return {op.key: op for op in entries}


OPERATORS: Final[dict[str, Operator]] = _build_registry()


def operators_for(field_type: FieldType) -> Sequence[Operator]:
    """The operators a UI should offer for a field of this type, in registry order."""
    return [op for op in OPERATORS.values() if field_type in op.field_types]


def get_operator(key: str) -> Operator:
    try:
        return OPERATORS[key]
    except KeyError:
        raise ValueError(f"unknown operator {key!r}") from None
