"""The vector operands: how the registry's vector forms read the index's columns.

Two shapes of column answer a condition:
- a dictionary column (text, tags, JSON paths, anything with few distinct values): the operator
  runs once per distinct raw value, each read through `PyValue` exactly as the Python evaluator
  reads it, and the per-value answers are gathered to the rows through their int32 codes;
- a dense column (numbers, instants): the operator runs on the rows' values directly.

Either way the semantics are the Python evaluator's, value for value; only the loop moves.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np

from segmint.clock import as_utc
from segmint.filters.evaluate import PyValue
from segmint.filters.operators import PY_PRIMITIVES, View

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND: Final = timedelta(microseconds=1)
SEPARATOR: Final = "\x00"  # never inside stored text (storable.py refuses NUL)
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


def micros(moment: datetime) -> int:
    """An instant as whole microseconds since 1970 UTC: how the index stores instants."""
    return (as_utc(moment) - EPOCH) // MICROSECOND


_NUMPY_COMPARE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


class Numbers:
    """Numbers (float64) or instants (int64 microseconds) with a validity mask."""

    def __init__(self, values: np.ndarray[Any, Any], valid: BoolArray, instants: bool) -> None:
        self.values = values
        self.valid = valid
        self.instants = instants

    def _argument(self, value: Any) -> Any:
        return micros(value) if self.instants else value

    def compare(self, primitive: str, argument: Any) -> BoolArray:
        if primitive == "in":
            wanted = np.asarray([self._argument(a) for a in argument], dtype=self.values.dtype)
            hit = np.isin(self.values, wanted)
        else:
            hit = _NUMPY_COMPARE[primitive](self.values, self._argument(argument))
        return hit & self.valid


class Texts:
    """Text values (None where null), usually a dictionary's distinct values.

    Equality and the substring primitives scan one joined string (C speed, whatever the number
    of distinct values); the ordered primitives, rare and over few values, loop in Python."""

    def __init__(self, values: Sequence[str | None]) -> None:
        self.values = values
        self.valid = np.fromiter((v is not None for v in values), bool, len(values))
        self._joined: str | None = None
        self._starts: np.ndarray[Any, Any] | None = None

    def extended(self, values: Sequence[str | None], added: Sequence[str | None]) -> Texts:
        """These texts with `added` after them (`values`: the whole list, already extended),
        reusing what was computed for the old ones."""
        grown = Texts.__new__(Texts)
        grown.values = values
        more = np.fromiter((v is not None for v in added), bool, len(added))
        grown.valid = np.concatenate((self.valid, more))
        grown._joined, grown._starts = None, None
        if self._joined is not None and self._starts is not None and added:
            texts = [v or "" for v in added]
            lengths = np.fromiter((len(t) + 1 for t in texts), np.int64, len(texts))
            first = len(self._joined)  # the old string ends with the NUL before the new ones
            grown._starts = np.concatenate(
                (self._starts, first + np.concatenate(([0], np.cumsum(lengths)[:-1])))
            )
            grown._joined = self._joined + SEPARATOR.join(texts) + SEPARATOR
        return grown

    def _index(self) -> tuple[str, np.ndarray[Any, Any]]:
        if self._joined is None:
            texts = [v or "" for v in self.values]
            lengths = np.fromiter((len(t) + 1 for t in texts), np.int64, len(texts))
            # Entry i occupies joined[starts[i] : starts[i] + len]; each is framed by NULs.
            self._starts = np.concatenate(([1], 1 + np.cumsum(lengths)[:-1])).astype(np.int64)
            self._joined = SEPARATOR + SEPARATOR.join(texts) + SEPARATOR
        assert self._starts is not None
        return self._joined, self._starts

    def _entries_matching(self, pattern: str, framed_start: bool) -> BoolArray:
        joined, starts = self._index()
        regex = re.escape(pattern)
        if framed_start and pattern.endswith(SEPARATOR):
            # Equal neighbours share the NUL between them: find overlapping matches.
            regex = f"(?={regex})"
        hits = np.fromiter((m.start() for m in re.finditer(regex, joined)), np.int64)
        if framed_start:
            hits = hits + 1  # the match began at the NUL before the entry
        entries = np.searchsorted(starts, hits, side="right") - 1
        mask = np.zeros(len(self.values), bool)
        mask[entries[entries >= 0]] = True
        result: BoolArray = mask & self.valid
        return result

    def compare(self, primitive: str, argument: Any) -> BoolArray:
        if primitive == "in":
            mask = np.zeros(len(self.values), bool)
            for item in argument:
                mask |= self.compare("eq", item)
            return mask
        if not isinstance(argument, str):
            return np.zeros(len(self.values), bool)
        if primitive in ("eq", "contains", "starts", "ends") and not argument:
            if primitive == "eq":
                return np.zeros(len(self.values), bool)  # a valid text is never empty
            return self.valid.copy()
        if primitive == "eq":
            return self._entries_matching(SEPARATOR + argument + SEPARATOR, True)
        if primitive == "contains":
            return self._entries_matching(argument, False)
        if primitive == "starts":
            return self._entries_matching(SEPARATOR + argument, True)
        if primitive == "ends":
            return self._entries_matching(argument + SEPARATOR, False)
        test = PY_PRIMITIVES[primitive]
        return np.fromiter(
            (v is not None and test(v, argument) for v in self.values), bool, len(self.values)
        )


def _no_values(size: int) -> Numbers:
    return Numbers(np.zeros(size), np.zeros(size, bool), False)


class DictionaryOperand:
    """The distinct raw values of a dictionary column, read as the Python evaluator reads one.

    Views are computed once per distinct value and kept: the dictionary only grows, so a view
    is extended with the values added since, never recomputed."""

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        self._views: dict[View, Numbers | Texts] = {}
        self._reads: dict[View, list[Any]] = {}
        self._present: BoolArray | None = None
        self._elements: tuple[np.ndarray[Any, Any], dict[str, int], np.ndarray[Any, Any]] | None
        self._elements = None
        self._elements_of = 0

    @property
    def size(self) -> int:
        return len(self.values)

    def nothing(self) -> BoolArray:
        return np.zeros(self.size, bool)

    def view(self, kind: View) -> Numbers | Texts:
        cached = self._views.get(kind)
        if cached is not None and len(cached.valid) == self.size:
            return cached
        read = self._reads.setdefault(kind, [])
        done = len(read)
        added = [PyValue(raw).view(kind) for raw in self.values[done:]]
        read.extend(added)
        self._views[kind] = fresh = self._grown(kind, cached, read, added)
        return fresh

    @staticmethod
    def _grown(
        kind: View, cached: Numbers | Texts | None, read: list[Any], added: list[Any]
    ) -> Numbers | Texts:
        """The view over every value, from the one over the values before `added`."""
        if kind in (View.TEXT, View.BOOLEAN, View.DATE):
            if isinstance(cached, Texts):
                return cached.extended(read, added)
            return Texts(read)
        valid = np.fromiter((v is not None for v in added), bool, len(added))
        if kind is View.INSTANT:
            values = np.fromiter((micros(v) if v is not None else 0 for v in added), np.int64)
        else:
            values = np.fromiter((float(v) if v is not None else 0.0 for v in added), np.float64)
        if isinstance(cached, Numbers):
            values = np.concatenate((cached.values, values))
            valid = np.concatenate((cached.valid, valid))
        return Numbers(values, valid, kind is View.INSTANT)

    def present(self) -> BoolArray:
        known = self._present
        if known is None or len(known) != self.size:
            done = 0 if known is None else len(known)
            more = np.fromiter(
                (PyValue(raw).present() for raw in self.values[done:]), bool, self.size - done
            )
            known = more if known is None else np.concatenate((known, more))
            self._present = known
        return known

    def _element_index(self) -> tuple[np.ndarray[Any, Any], dict[str, int], np.ndarray[Any, Any]]:
        """(value of each element, code of each distinct folded element, code of each
        element): the lists among the values flattened once (and extended as values are added),
        so `has any` is one comparison."""
        if self._elements is None:
            self._elements = (np.zeros(0, np.int64), {}, np.zeros(0, np.int64))
        if self._elements_of != self.size:
            owners, distinct, codes = self._elements
            more_owners: list[int] = []
            more_codes: list[int] = []
            for position in range(self._elements_of, self.size):
                for element in PyValue(self.values[position]).elements():
                    more_owners.append(position)
                    more_codes.append(distinct.setdefault(element, len(distinct)))
            self._elements = (
                np.concatenate((owners, np.asarray(more_owners, np.int64))),
                distinct,
                np.concatenate((codes, np.asarray(more_codes, np.int64))),
            )
            self._elements_of = self.size
        return self._elements

    def has_elements(self, values: tuple[str, ...], every: bool) -> BoolArray:
        owners, code_of, codes = self._element_index()
        per_value = []
        for value in values:
            code = code_of.get(value)
            hits = np.zeros(self.size, bool)
            if code is not None:
                hits[owners[codes == code]] = True
            per_value.append(hits)
        if not per_value:
            return np.full(self.size, every)  # all of nothing holds; any of nothing does not
        combine = np.logical_and if every else np.logical_or
        result: BoolArray = combine.reduce(per_value)
        return result


class DenseOperand:
    """Every row's value of a numeric or instant column."""

    def __init__(self, values: np.ndarray[Any, Any], valid: BoolArray, kind: View) -> None:
        self.values = values
        self.valid = valid
        self.kind = kind

    @property
    def size(self) -> int:
        return len(self.values)

    def nothing(self) -> BoolArray:
        return np.zeros(self.size, bool)

    def view(self, kind: View) -> Numbers:
        if kind is not self.kind:
            return _no_values(self.size)
        return Numbers(self.values, self.valid, kind is View.INSTANT)

    def present(self) -> BoolArray:
        return self.valid

    def has_elements(self, values: tuple[str, ...], every: bool) -> BoolArray:
        return np.zeros(self.size, bool)
