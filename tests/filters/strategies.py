"""Hypothesis strategies: random filters (as JSON) and random leads that exercise them.

Values are drawn from small pools shared by filters and leads so that conditions often hit.
Text stays within characters whose folding agrees on every backend (see docs/filters.md:
PostgreSQL's lower() is not Python's casefold() for a few scripts).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from segmint.filters.fields import FieldType, resolve_account_field, resolve_field
from segmint.filters.operators import Shape, operators_for
from segmint.filters.timing import PERIODS
from segmint.projects import CustomField, Project
from tests.filters.harness import AccountSpec, LeadSpec

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

CUSTOM_FIELDS = {
    "seats": CustomField("seats", "Seats", "number"),
    "vip": CustomField("vip", "VIP", "boolean"),
    "tier": CustomField("tier", "Tier", "select", ("gold", "silver")),
    "renewal": CustomField("renewal", "Renewal", "date"),
    "note": CustomField("note", "Note", "text"),
    "null": CustomField("null", "Null", "text"),  # a key PostgreSQL's unquoted arrays read as NULL
}

WORDS = ["ceo", "CEO ", "École", "école", "ecole", "100%", "_corp", "a_b", "x", "vp sales",
         "Straße", "strasse", "new", "New", "50", "Zoë"]  # fmt: skip
NUMBERS = [-1, 0, 1, 2.5, 10, 50, 120]
WHEN = ["2026-10-31", "2026-11-01", "2026-10-01T00:00:00Z", "2026-10-31T08:00:00-04:00",
        "2026-09-15", "2026-10-26"]  # fmt: skip
DAYS = [0, 1, 7, 30, 0.5]

FIELDS = [
    "job_title", "status", "name", "engagement_score", "tags", "last_contacted_at",
    "enrichment_status", "enrichment.a", "enrichment.a.b", "custom.seats", "custom.vip",
    "custom.tier", "custom.renewal", "custom.note", "account.name", "account.metadata.a",
    "custom.null", "enrichment.NULL", "enrichment.null.a", "account.metadata.Null",
]  # fmt: skip
EVENT_FIELDS = ["a", "a.b", "path", "NULL"]
# Keys the data may hold. The language addresses only keys of letters, digits, '_' and '-'; the
# others must never be read as one of those: `a.b` is not `enrichment.a.b`, `a\n` is not `a`.
KEYS = ["a", "b", "path", "NULL", "null", "Null", "a\n", "a.b", "a b", "a ", 'a"b', "a,b",
        "{a}", "a\\b", "a'b", ""]  # fmt: skip
EVENT_TYPES = ["view", "signup", "purchase"]


def project_like(project: Project, timezone: str = "UTC") -> Project:
    """The project, as the parity tests configure it (custom fields, a time zone)."""
    return Project(
        project.id, project.organization_id, project.slug, project.name, timezone,
        project.statuses, project.converted_status, dict(CUSTOM_FIELDS),
    )  # fmt: skip


OFFLINE_PROJECT = project_like(Project(1, 1, "p", "p", "UTC", ("new",), "new"))

# -- filter values -----------------------------------------------------------------------------

_words = st.sampled_from(WORDS)
_numbers = st.sampled_from(NUMBERS)


def _scalar(field_type: FieldType, ordered: bool) -> st.SearchStrategy[Any]:
    if field_type in (FieldType.TEXT, FieldType.SELECT):
        return _words
    if field_type is FieldType.NUMBER or (field_type is FieldType.JSON and ordered):
        return _numbers
    if field_type in (FieldType.DATETIME, FieldType.DATE):
        return st.sampled_from(WHEN)
    if field_type is FieldType.BOOLEAN:
        return st.booleans()
    return st.one_of(_words, _numbers, st.booleans())


def _value(shape: Shape, field_type: FieldType, ordered: bool) -> st.SearchStrategy[Any]:
    scalar = _scalar(field_type, ordered)
    by_shape: dict[Shape, st.SearchStrategy[Any]] = {
        Shape.NONE: st.none(),
        Shape.SCALAR: scalar,
        Shape.LIST: st.lists(scalar, min_size=1, max_size=3),
        Shape.TEXT_OR_LIST: st.one_of(_words, st.lists(_words, min_size=1, max_size=3)),
        Shape.STRINGS: st.lists(_words, min_size=1, max_size=3),
        Shape.PAIR: st.lists(scalar, min_size=2, max_size=2),
        Shape.DAYS: st.sampled_from(DAYS),
        Shape.PERIOD: st.sampled_from(PERIODS),
    }
    return by_shape[shape]


def _field_type(name: str, in_event: bool) -> FieldType:
    return FieldType.JSON if in_event else resolve_field(name, OFFLINE_PROJECT).type


@st.composite
def conditions(draw: st.DrawFn, in_event: bool = False) -> dict[str, Any]:
    name = draw(st.sampled_from(EVENT_FIELDS if in_event else FIELDS))
    field_type = _field_type(name, in_event)
    op = draw(st.sampled_from(operators_for(field_type)))
    data: dict[str, Any] = {"field": name, "op": op.key}
    if op.shape is not Shape.NONE:
        data["value"] = draw(_value(op.shape, field_type, op.ordered))
    return data


def _groups(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    many = st.lists(children, min_size=1, max_size=3)
    return st.one_of(
        many.map(lambda c: {"and": c}),
        many.map(lambda c: {"or": c}),
        children.map(lambda c: {"not": c}),
    )


def where_filters() -> st.SearchStrategy[Any]:
    return st.recursive(conditions(in_event=True), _groups, max_leaves=3)


@st.composite
def event_conditions(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {"event": draw(st.sampled_from(EVENT_TYPES))}
    if draw(st.booleans()):
        data["performed"] = False
    low = draw(st.none() | st.integers(0, 3))
    if low is not None:
        data["min_count"] = low
    if draw(st.booleans()):
        data["max_count"] = draw(st.integers(max(low if low is not None else 1, 0), 3))
    if draw(st.booleans()):
        data["within_days"] = draw(st.sampled_from([1, 7, 30]))
    within = data.get("within_days", 45)
    if within > 1 and draw(st.integers(0, 3)) == 0:  # older than < within: a band in the past
        data["older_than_days"] = draw(st.integers(1, within - 1))
    if draw(st.integers(0, 3)) == 0:
        data["min_distinct_days"] = draw(st.integers(1, 3))
    if draw(st.integers(0, 2)) == 0:
        data["aggregate"] = draw(aggregates())
    if draw(st.booleans()):
        data["where"] = draw(where_filters())
    return data


# Numbers whose sums and averages are exact in binary, so every backend's float arithmetic
# agrees whatever order it adds them in.
AGGREGATE_NUMBERS = [-1, 0, 1, 2.5, 3, 10, 50]


@st.composite
def aggregates(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte", "between"]))
    value: Any = draw(st.sampled_from(AGGREGATE_NUMBERS))
    if op == "between":
        value = sorted([value, draw(st.sampled_from(AGGREGATE_NUMBERS))])
    return {
        "fn": draw(st.sampled_from(["sum", "avg", "min", "max"])),
        "path": draw(st.sampled_from(["amount", "a"])),
        "op": op,
        "value": value,
    }


@st.composite
def distinct_events(draw: st.DrawFn) -> dict[str, Any]:
    types = draw(st.none() | st.lists(st.sampled_from(EVENT_TYPES), min_size=1, unique=True))
    data: dict[str, Any] = {"distinct_events": draw(st.integers(1, len(types or EVENT_TYPES)))}
    if draw(st.booleans()):
        data["within_days"] = draw(st.sampled_from([1, 7, 30]))
    if types is not None:
        data["types"] = types
    return data


@st.composite
def sequences(draw: st.DrawFn) -> dict[str, Any]:
    """A sequence of 2 to 5 steps, each maybe with a where, maybe windowed both ways, maybe
    with an excluded event (not_between, of any type: often a step's own)."""
    steps = []
    for _ in range(draw(st.integers(2, 5) | st.just(2))):
        step: dict[str, Any] = {"event": draw(st.sampled_from(EVENT_TYPES))}
        if draw(st.integers(0, 2)) == 0:
            step["where"] = draw(where_filters())
        steps.append(step)
    data: dict[str, Any] = {"sequence": steps}
    if draw(st.booleans()):
        data["within_days"] = draw(st.sampled_from([1, 2, 7, 30]))
    if draw(st.booleans()):
        data["since_days"] = draw(st.sampled_from([1, 7, 30]))
    if draw(st.booleans()):
        excluded: dict[str, Any] = {"event": draw(st.sampled_from(EVENT_TYPES))}
        if draw(st.integers(0, 2)) == 0:
            excluded["where"] = draw(where_filters())
        data["not_between"] = excluded
    return data


_JSON = FieldType.JSON
_TEXT_OPERATORS = [
    op
    for op in operators_for(_JSON)
    if not op.ordered and op.shape in (Shape.SCALAR, Shape.LIST, Shape.TEXT_OR_LIST)
]


# Texts that often contain, start or end one another (and fold alike), for the text operators.
TEXTS = ["Salesforce", "sales", "SALES ", "HubSpot", "hub", "spot", "force", "École", "ecole",
         "Straße", "strasse", "100%", "a_b", "Zoë"]  # fmt: skip
_overlapping = st.sampled_from(TEXTS)
_text_scalars = st.one_of(_overlapping, _overlapping, _overlapping, _numbers, st.booleans())


@st.composite
def json_text_conditions(draw: st.DrawFn, in_event: bool = False) -> dict[str, Any]:
    """A text operator (`eq` ... `ends_with` and their negations) on an untyped JSON path."""
    names = EVENT_FIELDS if in_event else [f for f in FIELDS if _field_type(f, False) is _JSON]
    op = draw(st.sampled_from(_TEXT_OPERATORS))
    values = {
        Shape.SCALAR: _text_scalars,
        Shape.LIST: st.lists(_text_scalars, min_size=1, max_size=3),
        Shape.TEXT_OR_LIST: st.one_of(_overlapping, st.lists(_overlapping, min_size=1, max_size=3)),
    }
    value = draw(values[op.shape])
    return {"field": draw(st.sampled_from(names)), "op": op.key, "value": value}


def json_text_filters() -> st.SearchStrategy[Any]:
    """Trees of text conditions on JSON paths, also inside events' `where`: what reads arrays
    by their string elements."""
    where = st.recursive(json_text_conditions(in_event=True), _groups, max_leaves=2)
    event = st.builds(lambda w: {"event": "view", "where": w}, where)
    return st.recursive(st.one_of(json_text_conditions(), event), _groups, max_leaves=3)


SALTS = ["", "a", "spring test", "École ", 'a"b:1']


@st.composite
def buckets(draw: st.DrawFn) -> dict[str, Any]:
    """A random split: ranges at the edges (0, 100) as often as inside, salts with spaces,
    accents and the separator itself."""
    low = draw(st.one_of(st.just(0), st.integers(0, 99)))
    high = draw(st.one_of(st.just(100), st.integers(low + 1, 100)))
    salt = draw(st.sampled_from([None, *SALTS]))
    return {"bucket": [low, high], **({} if salt is None else {"salt": salt})}


@st.composite
def tenures(draw: st.DrawFn) -> dict[str, Any]:
    """Time in segment 1 (the parity tests give it a maintained membership)."""
    key = draw(st.sampled_from(["for_at_least_days", "entered_within_days"]))
    return {"in_segment": 1, key: draw(st.sampled_from([1, 2, 7, 30]))}


def leaves(with_segments: bool) -> st.SearchStrategy[Any]:
    options = [conditions(), conditions(), event_conditions(), distinct_events(), sequences(),
               st.sampled_from([1, 2]).map(lambda i: {"in_list": i}), buckets()]  # fmt: skip
    if with_segments:
        options.append(st.just({"in_segment": 1}))
        options.append(tenures())
    return st.one_of(*options)


def filters(with_segments: bool = True) -> st.SearchStrategy[Any]:
    return st.recursive(leaves(with_segments), _groups, max_leaves=6)


STORED_SEGMENT = {"or": [{"field": "job_title", "op": "contains", "value": "ceo"}, {"in_list": 1}]}

# -- leads -------------------------------------------------------------------------------------

_json_scalars = st.one_of(
    st.none(), st.booleans(), _numbers, _words, st.sampled_from(["", "  ", "50", "2026-11-01"])
)
# Arrays of the filters' words, often mixed with other JSON (numbers, booleans, null, blanks, a
# nested array): text operators read an untyped array by its string elements on every backend.
_word_arrays = st.lists(
    st.one_of(_words, _words, _json_scalars, st.lists(_words, max_size=1)), max_size=4
)
json_values = st.one_of(
    _word_arrays,
    st.recursive(
        _json_scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(KEYS), inner, max_size=2),
        ),
        max_leaves=5,
    ),
)
_objects = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3)
_texts = st.one_of(st.none(), _words, st.sampled_from(["", "   "]))
_moments = st.integers(-3 * 24, 60 * 24).map(lambda hours: NOW - timedelta(hours=hours))
# Events often share a moment (strictly increasing sequences must not chain them) or lie exactly
# whole days apart (a sequence's within_days is inclusive).
_event_moments = st.one_of(
    _moments, st.sampled_from([0, 24, 48, 24 * 7]).map(lambda hours: NOW - timedelta(hours=hours))
)


@st.composite
def _custom(draw: st.DrawFn) -> dict[str, Any]:
    pools = {
        "seats": json_values,
        "vip": st.one_of(st.booleans(), json_values),
        "tier": st.one_of(_words, json_values),
        "renewal": st.one_of(st.sampled_from([*WHEN, "2026-10-25", "", "junk"]), json_values),
        "note": st.one_of(_words, json_values),
        "null": st.one_of(_words, json_values),
    }
    keys = draw(st.lists(st.sampled_from(sorted(pools)), unique=True))
    return {key: draw(pools[key]) for key in keys}


# An amount, often a number (which aggregates read), else other JSON or missing.
_amounts = st.one_of(st.sampled_from(AGGREGATE_NUMBERS), st.sampled_from(AGGREGATE_NUMBERS),
                     _json_scalars)  # fmt: skip


@st.composite
def _metadata(draw: st.DrawFn) -> dict[str, Any]:
    data = draw(_objects)
    if draw(st.booleans()):
        data["amount"] = draw(_amounts)
    return data


@st.composite
def _events(draw: st.DrawFn) -> list[dict[str, Any]]:
    return [
        {
            "type": draw(st.sampled_from(EVENT_TYPES)),
            "occurred_at": draw(_event_moments),
            "metadata": draw(_metadata()),
        }
        for _ in range(draw(st.integers(0, 6)))
    ]


@st.composite
def leads(draw: st.DrawFn) -> LeadSpec:
    values = {
        "job_title": draw(_texts),
        "status": draw(_texts),
        "first_name": draw(_texts),
        "last_name": draw(_texts),
        "engagement_score": draw(_numbers),
        "tags": draw(st.lists(st.one_of(_words, _numbers), max_size=3)),
        "last_contacted_at": draw(st.none() | _moments),
        "enrichment": draw(st.none() | _objects),
        "custom": draw(_custom()),
    }
    account = draw(st.none() | st.fixed_dictionaries({"name": _words, "metadata": _objects}))
    list_ids = draw(st.lists(st.sampled_from([1, 2]), unique=True))
    # A maintained membership of segment 1 (time in segment reads it), begun at an hour that
    # often lands on a window's edge, or still ahead of NOW (not a member then).
    entered = draw(st.none() | _moments)
    segments = {} if entered is None else {1: entered}
    return LeadSpec(values, account, draw(_events()), list_ids, segments)


# The keys json_text_filters() read, each holding mostly arrays of their texts (with other JSON
# among the elements), else a text or any JSON.
_text_elements = st.one_of(
    _overlapping, _overlapping, _overlapping, _json_scalars, st.lists(_overlapping, max_size=1)
)
_text_arrays = st.lists(_text_elements, min_size=1, max_size=4)
_read_values = st.one_of(_text_arrays, _text_arrays, _text_arrays, _overlapping, json_values)
_read_objects = st.fixed_dictionaries({key: _read_values for key in ("a", "path", "NULL", "Null")})


@st.composite
def json_leads(draw: st.DrawFn) -> LeadSpec:
    """A lead whose enrichment, account metadata and events' metadata json_text_filters() read."""
    events = [
        {"type": "view", "occurred_at": draw(_moments), "metadata": draw(_read_objects)}
        for _ in range(draw(st.integers(0, 3)))
    ]
    account = {"name": "Account", "metadata": draw(_read_objects)}
    return LeadSpec({"enrichment": draw(_read_objects)}, draw(st.none() | st.just(account)), events)


# -- accounts ----------------------------------------------------------------------------------

ACCOUNT_FIELDS = ["name", "domain", "engagement_level", "profile_level", "created_at",
                  "metadata.a", "metadata.a.b", "metadata.Null"]  # fmt: skip
STORED_ACCOUNT_SEGMENT = {"or": [{"field": "domain", "op": "contains", "value": "ceo"},
                                 {"leads": {"event": "view"}, "min_count": 2}]}  # fmt: skip


@st.composite
def account_conditions(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(ACCOUNT_FIELDS))
    field_type = resolve_account_field(name).type
    op = draw(st.sampled_from(operators_for(field_type)))
    data: dict[str, Any] = {"field": name, "op": op.key}
    if op.shape is not Shape.NONE:
        data["value"] = draw(_value(op.shape, field_type, op.ordered))
    return data


@st.composite
def account_leads_nodes(draw: st.DrawFn) -> dict[str, Any]:
    """`{"leads": <a random lead filter>, "min_count": .., "max_count": ..}`."""
    data: dict[str, Any] = {"leads": draw(st.recursive(leaves(True), _groups, max_leaves=3))}
    low = draw(st.none() | st.integers(0, 3))
    if low is not None:
        data["min_count"] = low
    if draw(st.booleans()):
        data["max_count"] = draw(st.integers(low if low is not None else 1, 3))
    return data


def account_filters() -> st.SearchStrategy[Any]:
    leaf = st.one_of(
        account_conditions(),
        account_conditions(),
        account_leads_nodes(),
        st.just({"in_segment": 3}),
    )
    return st.recursive(leaf, _groups, max_leaves=5)


@st.composite
def accounts_with_leads(draw: st.DrawFn) -> AccountSpec:
    values = {
        "name": draw(_words),
        "domain": draw(_texts),
        "engagement_level": draw(st.one_of(_texts, st.sampled_from(["Hot", "hot", "Cold"]))),
        "profile_level": draw(_texts),
        "metadata": draw(_objects),
        "created_at": draw(_moments),
    }
    people = draw(st.lists(leads(), max_size=4))
    return AccountSpec(values, people)


def lead_filters_with_accounts() -> st.SearchStrategy[Any]:
    """Lead filters that reach account segment 3 through `in_account_segment`."""
    leaf = st.one_of(conditions(), event_conditions(), st.just({"in_account_segment": 3}))
    return st.recursive(leaf, _groups, max_leaves=4)
