"""The per-value answers kept between requests: extended as a dictionary grows, never stale,
and held within their budget."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.filters.fields import FieldSpec, FieldType, Storage
from segmint.filters.operators import OPERATORS
from segmint.filters.timing import TimeContext
from segmint.index.answers import NO_TIME, AnswerCache
from segmint.index.columns import DictionaryColumn
from segmint.index.tables import EventTable
from segmint.index.vectors import micros, micros_to_datetime

SPEC = FieldSpec("email", "Email", FieldType.TEXT, Storage.COLUMN, column="email")
TIME = TimeContext.of(datetime(2026, 1, 1, tzinfo=UTC))


def _column(values: list[str | None]) -> DictionaryColumn:
    column = DictionaryColumn(mixed=False)
    column.append(values)
    return column


def _fresh(column: DictionaryColumn, op: str, value: str) -> np.ndarray:
    answer: np.ndarray = OPERATORS[op].vector(column.operand, SPEC, value, TIME)
    return answer


def test_an_answer_kept_is_extended_with_values_added_since() -> None:
    cache = AnswerCache(min_values=1)
    column = _column(["anderson@x.io", "Jackson@y.io", None, "kim@z.io"])
    first = cache.per_value(column, OPERATORS["contains"], SPEC, "son", TIME)
    assert first.tolist() == [True, True, False, False]
    column.append(["wilSON@q.io", "", "lee@q.io", "ÅSON@é.io"])
    grown = cache.per_value(column, OPERATORS["contains"], SPEC, "son", TIME)
    assert grown.tolist() == _fresh(column, "contains", "son").tolist()
    assert grown.tolist()[4:] == [True, False, False, True]


def test_answers_are_kept_per_column_operator_and_value() -> None:
    cache = AnswerCache(min_values=1)
    a, b = _column(["ab", "cd"]), _column(["cd", "ab"])
    assert cache.per_value(a, OPERATORS["contains"], SPEC, "a", TIME).tolist() == [True, False]
    assert cache.per_value(b, OPERATORS["contains"], SPEC, "a", TIME).tolist() == [False, True]
    assert cache.per_value(a, OPERATORS["not_contains"], SPEC, "a", TIME).tolist() == [
        False,
        True,
    ]
    assert cache.per_value(a, OPERATORS["contains"], SPEC, "c", TIME).tolist() == [False, True]


def test_kept_answers_stay_within_their_budget() -> None:
    values = [f"lead{i}@example.com" for i in range(8000)]
    column = _column(values)
    cache = AnswerCache(max_bytes=2500, min_values=1, min_kept=1)  # two answers of 1,000 bytes
    for n in range(5):
        answer = cache.per_value(column, OPERATORS["contains"], SPEC, str(n), TIME)
        assert answer.tolist() == _fresh(column, "contains", str(n)).tolist()
    assert 0 < cache.nbytes() <= 2500


def test_the_budget_holds_a_few_answers_however_large_they_are() -> None:
    """Room for `min_kept` answers as large as the last, above a budget too small for them (a
    search's three answers at 50M leads are over the fixed 8 MB)."""
    column = _column([f"lead{i}@example.com" for i in range(8000)])
    cache = AnswerCache(max_bytes=2500, min_values=1, min_kept=3)
    for n in range(5):
        cache.per_value(column, OPERATORS["contains"], SPEC, str(n), TIME)
    assert cache.nbytes() == 3 * 1000  # the last three asked, a bit a value each


def test_small_dictionaries_and_moving_conditions_are_not_kept() -> None:
    cache = AnswerCache()
    column = _column(["new", "contacted"])
    cache.per_value(column, OPERATORS["eq"], SPEC, "new", TIME)
    assert cache.nbytes() == 0


def _events(lead_rows: list[int], types: list[int]) -> EventTable:
    table = EventTable()
    table.type_codes = {"page_view": 0, "email_open": 1}
    n = len(lead_rows)
    table.load_sorted(
        np.arange(1, n + 1, dtype=np.int64),
        np.asarray(lead_rows, np.int64),
        np.asarray(types, np.int64),
        np.arange(n, dtype=np.int64),
    )
    return table


def _append(table: EventTable, rows: list[tuple[int, str]]) -> None:
    start = len(table) + 1
    table.append(
        [
            {"id": start + i, "type": kind, "occurred_at": TIME.now, "metadata": {}}
            for i, (_, kind) in enumerate(rows)
        ],
        [row for row, _ in rows],
    )


def test_counts_of_a_type_follow_appends_merges_and_new_leads() -> None:
    cache = AnswerCache()
    table = _events([0, 0, 1, 2, 2, 2], [0, 0, 0, 1, 0, 0])
    assert cache.type_counts(table, 0, 3).tolist() == [2, 1, 2]
    _append(table, [(1, "page_view"), (3, "page_view"), (0, "email_open")])
    assert cache.type_counts(table, 0, 4).tolist() == [2, 2, 2, 1]
    assert cache.type_counts(table, 1, 5).tolist() == [1, 0, 1, 0, 0]
    table.merge()
    _append(table, [(4, "page_view")])
    assert cache.type_counts(table, 0, 5).tolist() == [2, 2, 2, 1, 1]
    assert cache.nbytes() > 0


def _append_at(table: EventTable, rows: list[tuple[int, int]]) -> None:
    """Page views of (lead row, instant in microseconds) appended to the tail."""
    start = len(table) + 1
    table.append(
        [
            {
                "id": start + i,
                "type": "page_view",
                "occurred_at": micros_to_datetime(at),
                "metadata": {},
            }
            for i, (_, at) in enumerate(rows)
        ],
        [row for row, _ in rows],
    )


def test_first_times_of_a_type_follow_appends_merges_and_new_leads() -> None:
    cache = AnswerCache()
    table = _events([0, 0, 1, 2, 2, 2], [0, 0, 0, 1, 0, 0])  # instants 0..5
    assert cache.first_times(table, 0, 3).tolist() == [0, 2, 4]
    assert cache.first_times(table, 1, 4).tolist() == [NO_TIME, NO_TIME, 3, NO_TIME]
    later = micros(TIME.now)
    _append_at(table, [(1, later), (3, later), (2, -5)])  # an earlier one for row 2, a new row
    assert cache.first_times(table, 0, 4).tolist() == [0, 2, -5, later]
    table.merge()
    _append_at(table, [(4, later + 1)])
    assert cache.first_times(table, 0, 5).tolist() == [0, 2, -5, later, later + 1]
    assert cache.first_times(table, 1, 5).tolist() == [NO_TIME, NO_TIME, 3, NO_TIME, NO_TIME]


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(st.tuples(st.integers(0, 7), st.booleans()), max_size=40),
    windows=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=8),
    leads=st.lists(st.integers(8, 12), min_size=8, max_size=8),
)
def test_a_windows_counts_move_with_it_exactly(
    events: list[tuple[int, bool]], windows: list[tuple[int, int]], leads: list[int]
) -> None:
    """Each ask (a window moved either way, grown, shrunk or jumped; more lead rows since)
    gets exactly the counts of its window's events that match, as counting it anew would."""
    table = _events([row for row, _ in events], [0] * len(events))
    matches = np.array([kept for _, kept in events], bool)
    cache = AnswerCache()

    def rows_in(part: slice) -> np.ndarray:
        rows: np.ndarray = table.lead_rows[part][matches[part]]
        return rows

    for (a, b), size in zip(windows, leads, strict=False):
        window = slice(min(a, b, len(events)), min(max(a, b), len(events)))
        counts = cache.window_counts(table, "key", window, size, rows_in)
        expected = np.bincount(rows_in(window), minlength=size)[:size]
        assert counts.tolist() == expected.tolist()
        with pytest.raises(ValueError, match="read-only"):
            counts += 1  # it may be the kept counts: no caller may change them
    assert cache.nbytes() > 0


def _four_events() -> tuple[EventTable, Callable[[slice], np.ndarray]]:
    """Four events of three leads, and the lead rows of a part of them."""
    table = _events([0, 1, 1, 2], [0, 0, 0, 0])

    def rows_in(part: slice) -> np.ndarray:
        rows: np.ndarray = table.lead_rows[part]
        return rows

    return table, rows_in


def test_windows_counts_are_counted_anew_after_a_merge_and_kept_within_budget() -> None:
    table, rows_in = _four_events()
    # a byte a count, 3 lead rows: one window fits
    cache = AnswerCache(window_bytes=3, window_bytes_per_lead=0)
    assert cache.window_counts(table, "a", slice(1, 4), 3, rows_in).tolist() == [0, 2, 1]
    assert cache.window_counts(table, "b", slice(0, 2), 3, rows_in).tolist() == [1, 1, 0]
    assert len(cache._windows) == 1  # "a" made way for "b"
    _append_at(table, [(2, -1)])  # earlier than all: after the merge, at position 0
    table.merge()  # the sorted part's positions moved: counted anew, not kept
    assert cache.window_counts(table, "b", slice(0, 2), 3, rows_in).tolist() == [1, 0, 1]


def test_the_windows_budget_grows_with_the_projects_leads() -> None:
    """Two bytes a lead: two windows of three leads fit where the fixed floor keeps one."""
    table, rows_in = _four_events()
    cache = AnswerCache(window_bytes=3, window_bytes_per_lead=2)
    cache.window_counts(table, "a", slice(1, 4), 3, rows_in)
    cache.window_counts(table, "b", slice(0, 2), 3, rows_in)
    assert list(cache._windows) == ["a", "b"]
    cache.window_counts(table, "c", slice(0, 3), 3, rows_in)
    assert list(cache._windows) == ["b", "c"]  # the least recently asked made way
