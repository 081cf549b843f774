"""The index's event primitives against the obvious loops: the next event after each (row,
instant), with ties and unsorted tails; distinct days; the events grouped by lead."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.index.evaluate import _days_per_row, _next_after
from segmint.index.tables import EventTable
from segmint.index.vectors import micros_to_datetime

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


@settings(max_examples=150, deadline=None)
@given(
    built=st.lists(st.tuples(_ROWS, st.integers(0, 2), _AT), max_size=15),
    appended=st.lists(st.tuples(_ROWS, st.integers(0, 4), _AT), max_size=15),
    shuffle=st.randoms(use_true_random=False),
)
def test_a_merge_keeps_each_types_slice_and_each_leads_events(
    built: list[tuple[int, int, int]],
    appended: list[tuple[int, int, int]],
    shuffle: random.Random,
) -> None:
    """After the tail (types new to it included) is merged in, the sorted part is in (type,
    time, id) order, as a build would sort it, though the tail's ids interleave the built
    ones (commits out of order); each lead's positions are its events."""
    table = EventTable()
    for code in range(5):
        table.type_code(f"t{code}", add=True)
    ids = list(range(len(built) + len(appended)))
    shuffle.shuffle(ids)
    table.load_sorted(
        np.array(ids[: len(built)], np.int64),
        np.array([r for r, _, _ in built], np.int64),
        np.array([t for _, t, _ in built], np.int64),
        np.array([a for _, _, a in built], np.int64),
    )
    tail = [
        {
            "id": ids[len(built) + n],
            "type": f"t{t}",
            "occurred_at": micros_to_datetime(a),
            "metadata": {},
        }
        for n, (_, t, a) in enumerate(appended)
    ]
    table.append(tail, [r for r, _, _ in appended])
    table.merge()

    everything = [*built, *appended]
    expected = sorted((t, a, ids[n]) for n, (_, t, a) in enumerate(everything))
    merged = zip(table.sorted_types().tolist(), table.at.tolist(), table.ids.tolist(), strict=True)
    assert list(merged) == expected
    for code in range(5):
        low, high = table.type_slice(code)
        assert table.at[low:high].tolist() == [a for t, a, _ in expected if t == code]
    for row in range(6):
        positions = table.positions_of(np.array([row], np.int64)).tolist()
        assert sorted(table.ids[positions].tolist()) == sorted(
            ids[n] for n, (r, _, _) in enumerate(everything) if r == row
        )
        assert table.lead_rows[positions].tolist() == [row] * len(positions)


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(st.tuples(_ROWS, st.integers(0, 6)), max_size=30),
    sorted_part=st.integers(0, 30),
)
def test_days_per_row_counts_each_rows_distinct_days(
    events: list[tuple[int, int]], sorted_part: int
) -> None:
    """Events in day order but for an unsorted suffix (the tail), repeated days included."""
    head = sorted(events[:sorted_part], key=lambda e: e[1])
    ordered = [*head, *events[sorted_part:]]
    rows = np.array([r for r, _ in ordered], np.int64)
    day = np.array([d for _, d in ordered], np.int64)

    counted = _days_per_row(rows, day, 7, 6).tolist()

    assert counted == [len({d for r, d in ordered if r == row}) for row in range(6)]
