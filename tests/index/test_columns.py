"""The index's columns hold no more than they need: narrow codes, trimmed arrays, ids
mapped to rows without sorted copies while they ascend, and the same answers throughout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from segmint.index.columns import DictionaryColumn, Growing, _by_comparison
from segmint.index.tables import NO_ROW, IdMap


def test_codes_are_as_narrow_as_the_dictionary_and_widen_when_it_grows() -> None:
    column = DictionaryColumn(mixed=False)
    column.append([f"v{i % 200}" for i in range(1000)])
    assert column.codes.live.dtype == np.uint8
    column.assign([0, 1], ["new", "v3"])  # the 201st value still fits a byte
    column.append([f"w{i}" for i in range(100)])  # 301 values: two bytes
    assert column.codes.live.dtype == np.uint16
    column.assign([2], ["x"])
    expected = ["new", "v3", "x", *(f"v{i % 200}" for i in range(3, 1000))]
    assert [column.raw(row) for row in range(1100)] == [*expected, *(f"w{i}" for i in range(100))]
    column.append([f"y{i}" for i in range(70_000)])
    assert column.codes.live.dtype == np.int32
    assert column.raw(1099) == "w99" and column.raw(len(column.codes) - 1) == "y69999"


@pytest.mark.parametrize(
    "batches",
    [[[1, 2, 5], [7, 9]], [[5, 2, 9], [1]], [[1, 2], [2 - 10, 40], [3]], [[], [4], [], [3, 8]]],
)
def test_ids_map_to_rows_in_order_or_not(batches: list[list[int]]) -> None:
    ids = IdMap()
    held: list[int] = []
    for batch in batches:
        ids.append(batch)
        held.extend(batch)
        asked = [*held, 0, 6, 100, -100]
        expected = [held.index(i) if i in held else NO_ROW for i in asked]
        assert ids.rows_of(asked).tolist() == expected
    ids.trim()
    assert ids.ids.live.tolist() == held and ids.ids.nbytes() == 8 * len(held)


def test_growing_holds_an_eighth_more_at_most_once_trimmed() -> None:
    growing = Growing(np.int64)
    growing.extend(np.arange(1000))
    growing.trim()
    assert growing.nbytes() == 8000
    growing.extend([1])
    assert growing.nbytes() == 8 * 1125 and growing.live.tolist() == [*range(1000), 1]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32])
def test_a_small_dictionary_gathered_by_comparison_answers_as_a_gather(dtype: Any) -> None:
    """Every subset of a 7-value dictionary, gathered by comparing codes (few true or few
    false) or by indexing, gives per_value[codes] exactly, whatever the codes' width."""
    codes = np.random.default_rng(1).integers(0, 7, 5000).astype(dtype)
    for bits in range(2**7):
        per_value = np.array([(bits >> i) & 1 for i in range(7)], bool)
        assert (_by_comparison(per_value, codes) == per_value[codes]).all()
