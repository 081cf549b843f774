"""The index's event primitives against the obvious loops: the next event after each (row,
instant), with ties and unsorted tails, and distinct keys."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.index.evaluate import _distinct, _next_after
from segmint.index.tables import EventTable

_ROWS = st.integers(0, 5)
_AT = st.integers(-3, 12)  # few instants: ties between queries and events are common


@settings(max_examples=300, deadline=None)
@given(
    queries=st.lists(st.tuples(_ROWS, _AT), max_size=12),
    events=st.lists(st.tuples(_ROWS, _AT), max_size=20),
)
def test_next_after_finds_each_rows_earliest_strictly_later_event(
    queries: list[tuple[int, int]], events: list[tuple[int, int]]
) -> None:
    rows = np.array([r for r, _ in queries], np.int64)
    at = np.array([a for _, a in queries], np.int64)
    event_rows = np.array([r for r, _ in events], np.int64)
    event_at = np.array([a for _, a in events], np.int64)  # in any order, as a tail's are

    found, next_at = _next_after(rows, at, event_rows, event_at)

    for i, (row, instant) in enumerate(queries):
        later = [a for r, a in events if r == row and a > instant]
        assert bool(found[i]) == bool(later)
        assert int(next_at[i]) == (min(later) if later else instant)


@given(st.lists(st.integers(-(2**40), 2**40), max_size=30))
def test_distinct_is_the_sorted_set(values: list[int]) -> None:
    assert _distinct(np.array(values, np.int64)).tolist() == sorted(set(values))


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(st.tuples(_ROWS, st.integers(0, 2), _AT), max_size=25),
    asked=st.lists(st.integers(0, 8), max_size=6, unique=True),
)
def test_a_leads_events_are_its_positions_in_the_sorted_part(
    events: list[tuple[int, int, int]], asked: list[int]
) -> None:
    """`positions_of` (rows past the last one with events included) gives exactly the asked
    rows' positions, each row's in ascending order (type, then time)."""
    table = EventTable()
    table.load_sorted(
        np.arange(len(events), dtype=np.int64),
        np.array([r for r, _, _ in events], np.int64),
        np.array([t for _, t, _ in events], np.int64),
        np.array([a for _, _, a in events], np.int64),
    )
    rows = np.array(sorted(asked), np.int64)

    positions = table.positions_of(rows).tolist()

    expected = [p for row in rows for p in range(len(events)) if table.lead_rows[p] == row]
    assert positions == expected
