"""Fuzzing the JSON parser: arbitrary input is either a tree or InvalidInput, nothing else."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.errors import InvalidInput
from segmint.filters import MemorySegmentSource, parse_filter, to_json
from segmint.filters.parse import NODE_KEYS
from tests.filters.strategies import FIELDS, OFFLINE_PROJECT

KEYS = st.sampled_from(
    [*NODE_KEYS, "op", "value", "performed", "min_count", "max_count", "within_days", "where"]
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10),
    st.sampled_from([*FIELDS, "eq", "in", "between", "has_any", "in_period", "this_week",
                     "2026-01-01", 1, 2]),
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(KEYS, st.text(max_size=5)), inner, max_size=4),
    ),
    max_leaves=20,
)
SOURCE = MemorySegmentSource({1: {"in_segment": 2}, 2: {"in_segment": 1}}, frozenset({1}))


@settings(max_examples=1000, deadline=None)
@given(JSON)
def test_arbitrary_json_only_raises_invalid_input(data: Any) -> None:
    try:
        tree = parse_filter(data, OFFLINE_PROJECT, SOURCE)
    except InvalidInput as error:
        assert error.path is not None and error.path.startswith("filter")
        return
    assert parse_filter(to_json(tree), OFFLINE_PROJECT) == tree
