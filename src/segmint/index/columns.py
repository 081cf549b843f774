"""Columns of the index: growable numpy arrays, dictionary-encoded values and dense numbers.

A row's position never changes once given (rows are appended; a deleted lead is only marked
dead), so every column of a table is gathered with the same row numbers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Final

import numpy as np

from segmint.filters.operators import View
from segmint.index.packed import PackedTexts
from segmint.index.vectors import (
    BoolArray,
    DenseOperand,
    DictionaryOperand,
    gather,
    micros,
)
from segmint.store.db import json_loads


class Growing:
    """A numpy array that appends in amortised O(1), `live` being the used part: capacity grows
    by an eighth (not doubles: a million leads must not hold room for two million), and a
    build's columns are trimmed to their size (`trim`)."""

    def __init__(self, dtype: Any, fill: Any = 0) -> None:
        self._data = np.full(16, fill, dtype=dtype)
        self._size = 0
        self._fill = fill

    def __len__(self) -> int:
        return self._size

    @property
    def live(self) -> np.ndarray[Any, Any]:
        return self._data[: self._size]

    def extend(self, values: Any) -> None:
        values = np.asarray(values, dtype=self._data.dtype)
        needed = self._size + len(values)
        if needed > len(self._data):
            capacity = max(needed, len(self._data) + len(self._data) // 8, 16)
            grown = np.full(capacity, self._fill, dtype=self._data.dtype)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : needed] = values
        self._size = needed

    def trim(self) -> None:
        """Hold no more room than the values take (after a build: appends are rare since)."""
        if len(self._data) > self._size:
            self._data = self._data[: self._size].copy()

    def nbytes(self) -> int:
        return int(self._data.nbytes)


class Codes(Growing):
    """Codes into a dictionary, as narrow as its size allows: a byte each while it holds at
    most 256 values (statuses, countries, sources), two bytes up to 65,536, then four. Widened,
    once, when a code would not fit."""

    WIDTHS: Final = (np.uint8, np.uint16, np.int32)

    def __init__(self) -> None:
        super().__init__(np.uint8)

    def _fit(self, codes: np.ndarray[Any, Any]) -> None:
        highest = int(codes.max()) if len(codes) else 0
        if highest > np.iinfo(self._data.dtype).max:
            wide = next(width for width in self.WIDTHS if highest <= np.iinfo(width).max)
            self._data = self._data.astype(wide)

    def extend(self, values: Any) -> None:
        codes = np.asarray(values)
        self._fit(codes)
        super().extend(codes)

    def assign(self, rows: np.ndarray[Any, Any], codes: np.ndarray[Any, Any]) -> None:
        self._fit(codes)
        self.live[rows] = codes


def value_key(raw: Any) -> Any:
    """A hashable key that tells apart what the filter semantics tell apart (True is not 1,
    1 is not "1"); lists and objects by their JSON text."""
    if isinstance(raw, list | dict):
        return ("json", json.dumps(raw, sort_keys=True))
    return (type(raw).__name__, raw)


def _size_of(raw: Any) -> int:
    return 8 + (sys.getsizeof(raw) if raw is not None else 0)


class DictionaryColumn:
    """One code per row (`Codes`) into a list of distinct raw values (the dictionary).

    `mixed`: the values may be of several JSON types (a path's values), so they are told apart
    by `value_key`; a text column's are strings or None and are their own keys. A column whose
    values are nearly all distinct (emails, phones) drops its reverse map once built (`settle`):
    a new value is then appended without a lookup, and equal values may hold two codes, which
    changes no answer. A text column settled so keeps its values packed (packed.py): a few
    bytes a value above the text rather than a Python str each."""

    def __init__(self, mixed: bool = True) -> None:
        self.values: list[Any] | PackedTexts = []
        self._codes_by_key: dict[Any, int] | None = {}
        self._mixed = mixed
        self.codes = Codes()
        self.operand = DictionaryOperand(self.values)
        self._value_bytes = 0  # of values in a list: their str (or other) objects and slots
        # JSON texts already coded (append_json), while the reverse map is kept: a catch-up's
        # tags and paths are mostly values seen before, and parsing each distinct text and
        # keying what it parsed to was most of its Python time.
        self._codes_by_text: dict[str | None, int] = {}
        self._per_value: dict[str, np.ndarray[Any, Any]] = {}

    def encode(self, raw: Any) -> int:
        lookup = self._codes_by_key
        key = value_key(raw) if self._mixed else raw
        code = None if lookup is None else lookup.get(key)
        if code is None:
            code = len(self.values)
            if lookup is not None:
                lookup[key] = code
                self._value_bytes += 100  # the key and its slot in the map
            self.values.append(raw)
            if isinstance(self.values, list):
                self._value_bytes += _size_of(raw)
        return code

    def settle(self, rows: int) -> None:
        """After a build: forget the reverse map of a column that is mostly distinct values
        (and pack a text column's)."""
        self.codes.trim()
        if self._codes_by_key is not None and len(self.values) > rows // 2 > 0:
            self._codes_by_key = None
            self._codes_by_text = {}
            if self._mixed:
                self._value_bytes = sum(_size_of(v) for v in self.values)
            else:
                self.values = self.operand.values = PackedTexts(self.values)
                self._value_bytes = 0

    def append(self, raws: Sequence[Any]) -> None:
        lookup = self._codes_by_key
        if lookup is None and isinstance(self.values, PackedTexts):
            first = len(self.values)
            self.values.extend(raws)
            self.codes.extend(np.arange(first, first + len(raws), dtype=np.int32))
            return
        if self._mixed or lookup is None:
            self.codes.extend(np.fromiter((self.encode(raw) for raw in raws), np.int32))
            return
        # Text: the value is its own key, and a new key's code is the map's size before it. The
        # batch's distinct values are coded once (in order of first appearance, as row by row
        # would), then every row is looked up without a Python step of its own.
        # (The new keys are listed as found: skipping the known ones of a map of 300,000 names
        # to reach them cost milliseconds a catch-up.)
        added = [raw for raw in dict.fromkeys(raws) if raw not in lookup]
        lookup.update(zip(added, range(len(lookup), len(lookup) + len(added)), strict=True))
        codes = np.fromiter(map(lookup.__getitem__, raws), np.int32, len(raws))
        self.values.extend(added)
        self._value_bytes += sum(_size_of(value) + 100 for value in added)
        self.codes.extend(codes)

    def append_json(self, texts: Sequence[str | None]) -> None:
        """Values given as JSON text (a build, a catch-up): each distinct text parsed once."""
        known = self._codes_by_text if self._codes_by_key is not None else {}
        for text in dict.fromkeys(texts):
            if text not in known:
                known[text] = self.encode(None if text is None else json_loads(text))
                self._value_bytes += 100 if known is self._codes_by_text else 0
        self.codes.extend(np.fromiter(map(known.__getitem__, texts), np.int32, len(texts)))

    def assign(self, rows: Sequence[int], raws: Iterable[Any]) -> None:
        codes = np.fromiter((self.encode(raw) for raw in raws), np.int32, len(rows))
        self.codes.assign(np.asarray(rows, np.int64), codes)

    def reorder(self, order: np.ndarray[Any, Any]) -> None:
        """Rows moved: row i now holds what row order[i] held."""
        codes = self.codes.live[order]
        self.codes = Codes()
        self.codes.extend(codes)

    def per_value(
        self, key: str, compute: Callable[[Sequence[Any]], np.ndarray[Any, Any]]
    ) -> np.ndarray[Any, Any]:
        """`compute` of every distinct value, one entry per value, kept under `key` (the caller
        names what it computes): values are only ever added, so only those added since the
        last call are computed. Safe without the index's lock: two racing calls both compute
        and either result, each right for the values it saw, is kept."""
        values = self.values
        size = len(values)
        known = self._per_value.get(key)
        if known is None or len(known) < size:
            done = 0 if known is None else len(known)
            more = compute(values[done:size])
            known = more if known is None else np.concatenate((known, more))
            self._per_value[key] = known
        return known

    def raw(self, row: int) -> Any:
        return self.values[int(self.codes.live[row])]

    def gather(
        self, per_value: BoolArray, rows: np.ndarray[Any, Any] | slice | None = None
    ) -> BoolArray:
        """Per-value answers as per-row answers (for `rows` only, when given)."""
        codes = self.codes.live if rows is None else gather(self.codes.live, rows)
        if len(per_value) <= FEW_VALUES and len(codes) > len(per_value):
            return _by_comparison(per_value, codes)
        return gather(per_value, codes)

    def nbytes(self) -> int:
        kept = sum(known.nbytes for known in self._per_value.values())
        values = self.values.nbytes() if isinstance(self.values, PackedTexts) else 0
        views = self.operand.nbytes()
        return self.codes.nbytes() + self._value_bytes + values + views + kept


FEW_VALUES: Final = 256  # a dictionary this small is gathered by comparing codes, when that is less
COMPARED: Final = 4  # work: up to this many comparisons of every code


def _by_comparison(per_value: BoolArray, codes: np.ndarray[Any, Any]) -> BoolArray:
    """`per_value[codes]` for a small dictionary: when only a few values answer True (or only a
    few False), comparing every code with those few is several times faster than gathering
    (a sequential scan against a random read per row); otherwise gathered."""
    hits = np.flatnonzero(per_value)
    misses = np.flatnonzero(~per_value)
    few, negate = (hits, False) if len(hits) <= len(misses) else (misses, True)
    if len(few) > COMPARED:
        return gather(per_value, codes)
    if not len(few):
        return np.full(len(codes), negate)
    same = codes.dtype.type  # compared as the codes' own type: numpy would widen every code
    result: BoolArray = codes == same(few[0])
    for code in few[1:]:
        result |= codes == same(code)
    return ~result if negate else result


class DenseColumn:
    """Numbers (float64) or instants (int64 microseconds), with a validity mask."""

    def __init__(self, kind: View) -> None:
        self.kind = kind
        self.values = Growing(np.int64 if kind is View.INSTANT else np.float64)
        self.valid = Growing(np.bool_, False)

    def _parse(self, raws: Sequence[Any]) -> tuple[list[float], list[bool]]:
        values: list[float] = []
        valid: list[bool] = []
        for raw in raws:
            if self.kind is View.INSTANT:
                ok = isinstance(raw, datetime)
                values.append(micros(raw) if ok else 0)
            else:
                ok = isinstance(raw, int | float) and not isinstance(raw, bool)
                values.append(float(raw) if ok else 0.0)
            valid.append(ok)
        return values, valid

    def append(self, raws: Sequence[Any]) -> None:
        values, valid = self._parse(raws)
        self.values.extend(values)
        self.valid.extend(valid)

    def append_values(self, raws: Sequence[Any]) -> None:
        """Values as a build reads them: numbers, or instants as datetimes or microseconds."""
        first = next((raw for raw in raws if raw is not None), None)
        if self.kind is View.INSTANT and isinstance(first, datetime):  # all alike: the first
            self.append(raws)
            return
        numbers = np.array(raws, np.float64)  # None reads as NaN
        valid = ~np.isnan(numbers)
        self.values.extend(np.where(valid, numbers, 0).astype(self.values.live.dtype))
        self.valid.extend(valid)

    def assign(self, rows: Sequence[int], raws: Sequence[Any]) -> None:
        values, valid = self._parse(raws)
        at = np.asarray(rows, np.int64)
        self.values.live[at] = values
        self.valid.live[at] = valid

    def operand(self, rows: np.ndarray[Any, Any] | None = None) -> DenseOperand:
        """The values of every row, or of `rows` only."""
        if rows is None:
            return DenseOperand(self.values.live, self.valid.live, self.kind)
        return DenseOperand(
            gather(self.values.live, rows), gather(self.valid.live, rows), self.kind
        )

    def trim(self) -> None:
        self.values.trim()
        self.valid.trim()

    def nbytes(self) -> int:
        return self.values.nbytes() + self.valid.nbytes()


Column = DictionaryColumn | DenseColumn
