"""Per-dialect SQL pieces: SQLite JSON1 vs PostgreSQL JSONB, merged over generic defaults.

Everything that differs between the databases is a function in one of the override mappings
below; to_sql.py asks `dialect_for(name)` and never tests the dialect name itself.

JSON values are read at a path (a tuple of keys that passed fields.PATH_SEGMENT; an empty tuple
is the column itself). Every reader returns SQL NULL for a value of another JSON type, which the
operators treat as "no match" (see operators.View).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from segmint.filters.fields import PATH_SEGMENT

Expr = ColumnElement[Any]
Path = tuple[str, ...]

# Python's str.strip() removes these (after NFKC, which `fold` applies first); PostgreSQL's
# btrim() must remove exactly the same so blank strings agree with Python's fold().
PY_WHITESPACE: Final = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True)
class Dialect:
    name: str
    fold: Callable[[Expr], Expr]
    json_text: Callable[[Expr, Path], Expr]  # a JSON string's text, else NULL
    json_number: Callable[[Expr, Path], Expr]  # a JSON number, else NULL
    json_bool: Callable[[Expr, Path], Expr]  # 'true' / 'false' for a JSON boolean, else NULL
    json_present: Callable[[Expr, Path, Callable[[Expr], Expr]], Expr]  # not null (two-valued)
    json_elements: Callable[[Expr, Path], tuple[sa.FromClause, Expr, Expr]]
    json_non_empty_object: Callable[[Expr], Expr]
    ordered_text: Callable[[Expr], Expr]  # text compared by code point (ISO dates)
    # has_any (every=False) / has_all (every=True) over an array's folded string elements
    json_has_elements: Callable[[Dialect, Expr, Path, tuple[str, ...], bool], Expr]
    local_date: Callable[[Expr, str], Expr]  # a timestamp's calendar date in a zone (by name)
    bucket: Callable[[str, Expr], Expr]  # the random split's bucket (0-99) of a lead id


def _false() -> Expr:
    return sa.false()


# -- generic defaults --------------------------------------------------------------------------


def _default_fold(expr: Expr) -> Expr:
    return sa.func.lower(sa.func.trim(expr), type_=sa.String)


def _has_elements_by_subquery(
    dialect: Dialect, col: Expr, path: Path, values: tuple[str, ...], every: bool
) -> Expr:
    each, text, is_string = dialect.json_elements(col, path)
    folded = dialect.fold(text)
    matching = sa.and_(is_string, folded.in_(values))
    if not every:
        return sa.exists(sa.select(sa.literal(1)).select_from(each).where(matching))
    distinct = sa.select(sa.func.count(sa.distinct(folded))).select_from(each).where(matching)
    return distinct.scalar_subquery() == len(values)


def _unsupported(feature: str) -> Callable[..., Any]:
    def fail(*_args: Any) -> Any:
        raise NotImplementedError(f"{feature} has no SQL form for this database")

    return fail


DEFAULTS: Final[dict[str, Callable[..., Any]]] = {
    "fold": _default_fold,
    "json_text": _unsupported("JSON text"),
    "json_number": _unsupported("JSON numbers"),
    "json_bool": _unsupported("JSON booleans"),
    "json_present": _unsupported("JSON presence"),
    "json_elements": _unsupported("JSON arrays"),
    "json_non_empty_object": _unsupported("JSON objects"),
    "ordered_text": lambda expr: expr,
    "json_has_elements": _has_elements_by_subquery,
    "local_date": _unsupported("local dates"),
    "bucket": _unsupported("the random split"),
}

# -- SQLite (JSON1) ----------------------------------------------------------------------------


def _sqlite_path(path: Path) -> str:
    # Each key as a JSON string: SQLite compares a quoted label with the key as stored (escapes
    # included), and json.dumps writes a key the way the stored JSON does.
    return "$" + "".join(f".{json.dumps(key)}" for key in path)


def _sqlite_type(col: Expr, path: Path) -> Expr:
    return sa.func.json_type(col, _sqlite_path(path), type_=sa.String)


def _sqlite_extract(col: Expr, path: Path) -> Expr:
    return sa.func.json_extract(col, _sqlite_path(path))


def _sqlite_text(col: Expr, path: Path) -> Expr:
    return sa.case(
        (_sqlite_type(col, path) == "text", sa.type_coerce(_sqlite_extract(col, path), sa.String))
    )


def _sqlite_number(col: Expr, path: Path) -> Expr:
    number = sa.type_coerce(_sqlite_extract(col, path), sa.Float)
    return sa.type_coerce(
        sa.case((_sqlite_type(col, path).in_(["integer", "real"]), number)), sa.Float
    )


def _sqlite_bool(col: Expr, path: Path) -> Expr:
    kind = _sqlite_type(col, path)
    return sa.case((kind.in_(["true", "false"]), kind))


def _sqlite_present(col: Expr, path: Path, fold: Callable[[Expr], Expr]) -> Expr:
    kind = _sqlite_type(col, path)
    length = sa.func.json_array_length(col, _sqlite_path(path))
    return sa.case(
        (kind == "text", fold(_sqlite_extract(col, path)) != ""),
        (kind == "array", length > 0),
        (kind == "null", _false()),
        else_=kind.is_not(None),
    )


def _sqlite_elements(col: Expr, path: Path) -> tuple[sa.FromClause, Expr, Expr]:
    # json_each() of a scalar yields the scalar itself: feed it an array or nothing.
    array = sa.case((_sqlite_type(col, path) == "array", _sqlite_extract(col, path)), else_="[]")
    each = sa.func.json_each(array).table_valued("value", "type")
    return each, sa.type_coerce(each.c.value, sa.String), each.c.type == "text"


def _sqlite_non_empty_object(col: Expr) -> Expr:
    return sa.and_(sa.func.json_type(col) == "object", sa.func.json(col) != "{}")


SQLITE: Final[dict[str, Callable[..., Any]]] = {
    "fold": lambda expr: sa.func.segmint_fold(expr, type_=sa.String),
    "json_text": _sqlite_text,
    "json_number": _sqlite_number,
    "json_bool": _sqlite_bool,
    "json_present": _sqlite_present,
    "json_elements": _sqlite_elements,
    "json_non_empty_object": _sqlite_non_empty_object,
    # SQLite has no time zones: a Python function registered on each connection (store.db).
    "local_date": lambda col, zone: sa.func.segmint_local_date(col, zone, type_=sa.String),
    # segmint.bucketing.bucket_of, registered on every connection (store/db.py)
    "bucket": lambda salt, lead_id: sa.func.segmint_bucket(salt, lead_id, type_=sa.Integer),
}

# -- PostgreSQL (JSONB) ------------------------------------------------------------------------

_WHOLE: Final[ColumnElement[Any]] = sa.literal_column("'{}'")  # `#>> '{}'`: a JSONB scalar as text


# Paths and JSON type names are SQL text rather than bound parameters, so that expressions
# match the expression indexes of migration 0006 (an index serves only an identical expression;
# quoting an element does not change the array, so `'{"a","b"}'` still matches `'{a,b}'`).
# Paths are registry names that passed fields.PATH_SEGMENT, so no single quote can occur.


def _pg_path_literal(path: Path) -> str:
    """A text[] literal with every element quoted: unquoted, `NULL` (any case) is a null element,
    and `#>` then finds nothing (and whitespace around an element would be trimmed)."""
    quoted = ('"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"' for key in path)
    return "'{" + ",".join(quoted) + "}'::text[]"


def _pg_at(col: Expr, path: Path) -> Expr:
    if not path:
        return col
    if not all(PATH_SEGMENT.fullmatch(key) for key in path):
        raise ValueError(f"not a registry path: {path!r}")
    keys: Expr = sa.literal_column(_pg_path_literal(path))
    return col.op("#>", return_type=postgresql.JSONB)(keys)


def _pg_type(value: Expr) -> Expr:
    return sa.func.jsonb_typeof(value, type_=sa.String)


def _pg_is(value: Expr, json_type: str) -> Expr:
    return _pg_type(value) == sa.literal_column(f"'{json_type}'")


def _pg_scalar_text(value: Expr) -> Expr:
    return value.op("#>>", return_type=sa.String)(_WHOLE)


def _pg_fold(expr: Expr) -> Expr:
    # An IMMUTABLE SQL function (migration 0006) that PostgreSQL inlines: NFKC, trim exactly
    # PY_WHITESPACE, lower(), then ß -> ss and ς -> σ (lower() is not casefold()).
    return sa.func.segmint_fold(expr, type_=sa.String)


def _pg_text(col: Expr, path: Path) -> Expr:
    value = _pg_at(col, path)
    return sa.case((_pg_is(value, "string"), _pg_scalar_text(value)))


def _pg_number(col: Expr, path: Path) -> Expr:
    # float8 rather than numeric: the same arithmetic as SQLite's REAL and Python's float.
    value = _pg_at(col, path)
    number = sa.cast(value, postgresql.DOUBLE_PRECISION)  # jsonb -> float8 (PostgreSQL 11+)
    return sa.type_coerce(sa.case((_pg_is(value, "number"), number)), sa.Float)


def _pg_bool(col: Expr, path: Path) -> Expr:
    value = _pg_at(col, path)
    return sa.case((_pg_is(value, "boolean"), _pg_scalar_text(value)))


def _pg_present(col: Expr, path: Path, fold: Callable[[Expr], Expr]) -> Expr:
    value = _pg_at(col, path)
    kind = _pg_type(value)
    return sa.case(
        (kind == "string", fold(_pg_scalar_text(value)) != ""),
        (kind == "array", sa.func.jsonb_array_length(value) > 0),
        (kind == "null", _false()),
        else_=kind.is_not(None),
    )


def _pg_elements(col: Expr, path: Path) -> tuple[sa.FromClause, Expr, Expr]:
    value = _pg_at(col, path)
    # jsonb_array_elements() raises on a non-array: feed it an array in every case.
    array = sa.case((_pg_type(value) == "array", value), else_=sa.literal_column("'[]'::jsonb"))
    each = sa.func.jsonb_array_elements(array).table_valued("value").render_derived()
    return each, _pg_scalar_text(each.c.value), _pg_type(each.c.value) == "string"


def _pg_has_elements(
    _dialect: Dialect, col: Expr, path: Path, values: tuple[str, ...], every: bool
) -> Expr:
    """Containment over the folded elements (`segmint_fold_elements`, migration 0006), which a
    GIN index on the tags serves: `@>` for all of them, `?|` for any. The values travel as
    plain text parameters (JSON text, an ARRAY of texts), which every way of binding them,
    including COPY's client-side binding in exports, passes through unchanged."""
    folded = sa.func.segmint_fold_elements(_pg_at(col, path), type_=postgresql.JSONB)
    if every:
        wanted = sa.cast(sa.literal(json.dumps(list(values)), sa.Text), postgresql.JSONB)
        return folded.op("@>", return_type=sa.Boolean)(wanted)
    any_of = postgresql.array([sa.literal(value, sa.Text) for value in values])
    return folded.op("?|", return_type=sa.Boolean)(any_of)


def _pg_bucket(salt: str, lead_id: Expr) -> Expr:
    """segmint.bucketing.bucket_of in SQL: the first 8 bytes of sha256("{salt}:{id}") read as
    an unsigned 64-bit number, mod 100. bigint is signed, so the number is taken as two 32-bit
    halves, each exact in bigint: (high * 2^32 + low) mod 100 = (high * 96 + low) mod 100."""
    text = sa.literal(f"{salt}:", sa.Text) + sa.cast(lead_id, sa.Text)
    digest = sa.func.sha256(sa.func.convert_to(text, sa.literal_column("'UTF8'")))

    def half(first: int) -> Expr:
        byte = [sa.cast(sa.func.get_byte(digest, first + i), sa.BigInteger) for i in range(4)]
        return byte[0] * 16777216 + byte[1] * 65536 + byte[2] * 256 + byte[3]

    return (half(0) % 100 * 96 + half(4) % 100) % 100


def _pg_non_empty_object(col: Expr) -> Expr:
    return sa.and_(_pg_type(col) == "object", col != sa.literal_column("'{}'::jsonb"))


POSTGRES: Final[dict[str, Callable[..., Any]]] = {
    "fold": _pg_fold,
    "json_text": _pg_text,
    "json_number": _pg_number,
    "json_bool": _pg_bool,
    "json_present": _pg_present,
    "json_elements": _pg_elements,
    "json_non_empty_object": _pg_non_empty_object,
    "ordered_text": lambda expr: expr.collate("C"),
    "json_has_elements": _pg_has_elements,
    "local_date": lambda col, zone: sa.cast(sa.func.timezone(zone, col), sa.Date),
    "bucket": _pg_bucket,
}

OVERRIDES: Final = {"sqlite": SQLITE, "postgresql": POSTGRES}


def dialect_for(name: str) -> Dialect:
    """The SQL pieces for a SQLAlchemy dialect name (`sqlite`, `postgresql`)."""
    if name not in OVERRIDES:
        raise ValueError(f"filters do not support the {name!r} database")
    merged = {**DEFAULTS, **OVERRIDES[name]}
    parts = {f.name: merged[f.name] for f in fields(Dialect) if f.name != "name"}
    return Dialect(name=name, **parts)
