"""The index's exports decide once per distinct value how it is written: as it is, after a
`'`, or through its field function. The regex scans that decide a million values at once
agree with deciding each value alone, and each kind writes what the field function writes."""

from __future__ import annotations

import random

import numpy as np
import pytest

from segmint.engine import export
from segmint.index.columns import DictionaryColumn
from tests.csv_formulas import HOSTILE_TEXTS

ALPHABET = "ab -+=@\t\r\n,\"'.0123456789\\Ü日🙂"


def _values() -> list[object]:
    rng = random.Random(7)
    randoms = ["".join(rng.choices(ALPHABET, k=rng.randint(0, 6))) for _ in range(5000)]
    return [*HOSTILE_TEXTS, None, 5, "a\x00b", "\\.", " \\. ", *randoms]


@pytest.mark.parametrize(
    "field",
    [export._text_field, export._name_field, export._lone_text_field, export._lone_name_field],
)
def test_kinds_found_at_once_are_each_values_own(field: export._Field) -> None:
    values = _values()
    one_by_one = [export._kind(field, value) for value in values]
    assert export._kinds(values, field).tolist() == one_by_one
    assert export._kinds(values[3:], field).tolist() == one_by_one[3:]  # no NUL among them
    for value, kind in zip(values, one_by_one, strict=True):
        if kind != export.FORMATTED:
            assert export._written(value, kind, field) == field(value), repr(value)


def test_a_columns_kinds_are_extended_for_new_values_only() -> None:
    column = DictionaryColumn(mixed=False)
    column.append(["plain", "=1", None])
    seen: list[int] = []

    def kinds(values: list[object]) -> np.ndarray:
        seen.append(len(values))
        return export._kinds(values, export._text_field)

    assert column.per_value("k", kinds).tolist() == [0, 1, 2]
    column.append(["plain", "-5", "a,b"])
    assert column.per_value("k", kinds).tolist() == [0, 1, 2, 0, 2]
    assert column.per_value("k", kinds).tolist() == [0, 1, 2, 0, 2]
    assert seen == [3, 2]
