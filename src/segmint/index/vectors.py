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
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np

from segmint.clock import as_utc
from segmint.filters.evaluate import PyValue
from segmint.filters.operators import PY_PRIMITIVES, View
from segmint.index import packed
from segmint.index.packed import Packed, PackedTexts, utf8

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND: Final = timedelta(microseconds=1)
SEPARATOR: Final = "\x00"  # never inside stored text (storable.py refuses NUL)
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


def gather(values: np.ndarray[Any, Any], rows: Any) -> np.ndarray[Any, Any]:
    """`values[rows]` for an array of positions (a slice or a mask as indexing takes them):
    `np.take` gathers nearly twice as fast as indexing with an array (docs/decisions.md), and
    answers gather at every step: codes to values, candidates to their rows."""
    if isinstance(rows, np.ndarray) and rows.dtype != np.bool_:
        return np.take(values, rows)
    gathered: np.ndarray[Any, Any] = values[rows]
    return gathered


def micros(moment: datetime) -> int:
    """An instant as whole microseconds since 1970 UTC: how the index stores instants."""
    return (as_utc(moment) - EPOCH) // MICROSECOND


def micros_to_datetime(value: int) -> datetime:
    """The instant `micros` stored."""
    return EPOCH + value * MICROSECOND


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

    @property
    def size(self) -> int:
        return len(self.values)

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
    """One view's texts of a dictionary's distinct values, packed (packed.py): chunks of
    NUL-framed UTF-8, null (and text that reads as nothing) packed as "".

    Equality and the substring primitives scan each chunk's bytes with one search (C speed,
    whatever the number of distinct values); the ordered primitives, rare, decode and loop in
    Python. A chunk whose view is its values unchanged (emails already lower case) is the
    dictionary's own chunk, shared rather than copied."""

    def __init__(self, chunk: int | None = None) -> None:
        self.chunk = packed.CHUNK if chunk is None else chunk
        self._chunks: list[Packed] = []  # sealed, `chunk` values each
        self._tail: list[str] = []  # the texts after them, "" for null
        self._tail_packed: Packed | None = None
        self._counted: tuple[tuple[int | bool, ...], int] = ((), 0)  # nbytes() and of what

    @property
    def size(self) -> int:
        return len(self._chunks) * self.chunk + len(self._tail)

    def read(self, values: Sequence[Any], view: Callable[[Any], str | None]) -> None:
        """Read, through `view`, the values after those already read."""
        own = values.chunks if isinstance(values, PackedTexts) else ()
        share = isinstance(values, PackedTexts) and values.chunk == self.chunk
        while self.size < len(values):
            done = self.size
            at = done // self.chunk
            if share and not self._tail and at < len(own):
                self._seal(own[at], [view(value) or "" for value in own[at].values()])
                continue
            stop = min(len(values), (at + 1) * self.chunk)
            self._tail.extend(view(value) or "" for value in values[done:stop])
            self._tail_packed = None
            if len(self._tail) == self.chunk:
                self._seal(None, self._tail)
                self._tail = []

    def _seal(self, own: Packed | None, texts: list[str]) -> None:
        if own is not None and texts == own.texts():
            self._chunks.append(own)  # the view reads every value as it is stored
        else:
            self._chunks.append(Packed.of(texts))

    def _parts(self) -> Iterator[tuple[int, Packed]]:
        """(first entry, chunk) of each chunk, the tail packed last."""
        for at, chunk in enumerate(self._chunks):
            yield at * self.chunk, chunk
        if self._tail:
            if self._tail_packed is None:
                self._tail_packed = Packed.of(self._tail)
            yield len(self._chunks) * self.chunk, self._tail_packed

    @property
    def valid(self) -> BoolArray:
        """Where the value is not null in this view (its text is not empty)."""
        parts = [np.diff(chunk.bounds) > 1 for _, chunk in self._parts()]
        return np.concatenate(parts) if parts else np.zeros(0, bool)

    def _entries_matching(self, pattern: str) -> BoolArray:
        """Entries in which `pattern` occurs."""
        wanted = utf8(pattern)
        mask = np.zeros(self.size, bool)
        for first, chunk in self._parts():
            mask[first + chunk.entries_with(wanted)] = True
        return mask

    def compare(self, primitive: str, argument: Any) -> BoolArray:
        if primitive == "in":
            mask = np.zeros(self.size, bool)
            for item in argument:
                mask |= self.compare("eq", item)
            return mask
        if not isinstance(argument, str):
            return np.zeros(self.size, bool)
        if primitive in ("eq", "contains", "starts", "ends") and not argument:
            if primitive == "eq":
                return np.zeros(self.size, bool)  # a valid text is never empty
            return self.valid
        if primitive == "eq":
            return self._entries_matching(SEPARATOR + argument + SEPARATOR)
        if primitive == "contains":
            return self._entries_matching(argument)
        if primitive == "starts":
            return self._entries_matching(SEPARATOR + argument)
        if primitive == "ends":
            return self._entries_matching(argument + SEPARATOR)
        test = PY_PRIMITIVES[primitive]
        return np.fromiter(
            (bool(v) and test(v, argument) for _, c in self._parts() for v in c.texts()),
            bool,
            self.size,
        )

    def nbytes(self, shared: Sequence[Packed] = ()) -> int:
        """Its bytes, but for the chunks in `shared` (the dictionary's own, counted there).
        Counted again only when it changed: the budget asks after every answer."""
        key = (len(self._chunks), len(self._tail), self._tail_packed is None, len(shared))
        if self._counted[0] != key:
            skip = {id(chunk) for chunk in shared}
            sealed = sum(chunk.nbytes() for chunk in self._chunks if id(chunk) not in skip)
            loose = sum(8 + sys.getsizeof(text) for text in self._tail)  # a str and its slot
            tail = self._tail_packed.nbytes() if self._tail_packed is not None else 0
            self._counted = (key, sealed + loose + tail + 8 * len(self._chunks) + 200)
        return self._counted[1]


def _no_values(size: int) -> Numbers:
    return Numbers(np.zeros(size), np.zeros(size, bool), False)


class DictionaryOperand:
    """The distinct raw values of a dictionary column, read as the Python evaluator reads one.

    Views are computed once per distinct value and kept: the dictionary only grows, so a view
    is extended with the values added since, never recomputed."""

    def __init__(self, values: Sequence[Any]) -> None:
        self.values = values
        self._views: dict[View, Numbers | Texts] = {}
        self._present: BoolArray | None = None
        self._elements: tuple[np.ndarray[Any, Any], dict[str, int], np.ndarray[Any, Any]] | None
        self._elements = None
        self._elements_of = 0
        self._element_texts: Texts | None = None  # the distinct elements, as TEXT

    @property
    def size(self) -> int:
        return len(self.values)

    def nothing(self) -> BoolArray:
        return np.zeros(self.size, bool)

    def _chunk(self) -> int | None:
        """A view's chunks: the dictionary's own size, so a chunk read unchanged is shared."""
        return self.values.chunk if isinstance(self.values, PackedTexts) else None

    def view(self, kind: View) -> Numbers | Texts:
        cached = self._views.get(kind)
        if cached is not None and cached.size == self.size:
            return cached
        if kind in (View.TEXT, View.BOOLEAN, View.DATE):
            texts = cached if isinstance(cached, Texts) else Texts(self._chunk())
            texts.read(self.values, lambda raw: PyValue(raw).view(kind))
            self._views[kind] = texts
            return texts
        done = 0 if cached is None else cached.size
        added = [PyValue(raw).view(kind) for raw in self.values[done:]]
        self._views[kind] = fresh = self._grown(kind, cached, added)
        return fresh

    @staticmethod
    def _grown(kind: View, cached: Numbers | Texts | None, added: list[Any]) -> Numbers:
        """The view over every value, from the one over the values before `added`."""
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

    def any_element(self, primitive: str, argument: Any) -> BoolArray:
        """Per value: some string element of it (a list) satisfies the primitive. Each distinct
        element is compared once, the hits gathered to the values holding them."""
        owners, code_of, codes = self._element_index()
        texts = self._element_texts or Texts()
        texts.read(list(code_of), lambda element: element or None)  # blank: null, as TEXT
        self._element_texts = texts
        hits = np.zeros(self.size, bool)
        hits[owners[texts.compare(primitive, argument)[codes]]] = True
        return hits

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

    def nbytes(self) -> int:
        """What the views, presence and elements kept so far hold (not the values)."""
        own = self.values.chunks if isinstance(self.values, PackedTexts) else ()
        total = 0 if self._present is None else self._present.nbytes
        for view in self._views.values():
            if isinstance(view, Texts):
                total += view.nbytes(own)
            else:
                total += view.values.nbytes + view.valid.nbytes
        if self._elements is not None:
            owners, distinct, codes = self._elements
            keys = sum(100 + len(key) for key in distinct)  # a str and its slot in the map
            total += owners.nbytes + codes.nbytes + keys
        if self._element_texts is not None:
            total += self._element_texts.nbytes()
        return total


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

    def any_element(self, primitive: str, argument: Any) -> BoolArray:
        return np.zeros(self.size, bool)
