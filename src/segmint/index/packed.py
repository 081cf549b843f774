"""Texts packed as UTF-8: how the index keeps columns of nearly distinct text (emails, names,
phones) and their folded views, a few bytes a value above the text itself.

A Python str costs about 50 bytes of header and a list slot of 8 beside its text, so a
dictionary of a million emails held as a list was mostly overhead. Here values live in sealed
chunks of `CHUNK` values, each one bytes object and an int32 array of where each value ends;
the values appended since the last chunk was sealed wait in a short list (appending stays
cheap: nothing already packed is copied).

A chunk is laid out as its values framed by NULs, b"\\0ann\\0bo\\0", the NUL never being
inside stored text (storable.py refuses it): a chunk's data can be searched as it is for
"equals" (NUL, text, NUL), "starts with" (NUL, text) and "ends with" (text, NUL). UTF-8 keeps
code-point order and is self-synchronising, so a byte search for a text's UTF-8 finds exactly
the places the text search would.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, overload

import numpy as np

CHUNK = 4096  # values a sealed chunk holds (read when a sequence is made: tests make it small)
_ENCODING: Final = "utf-8"
_ERRORS: Final = "surrogatepass"  # a lone surrogate round-trips rather than raising


def utf8(text: str) -> bytes:
    """Text as packed (and searched for)."""
    return text.encode(_ENCODING, _ERRORS)


def _decode(data: bytes) -> str:
    return data.decode(_ENCODING, _ERRORS)


class Packed:
    """Texts (or None) in one bytes object: value i lies between the NULs at bounds[i] and
    bounds[i + 1]. None is packed as "" and marked in `nulls` (bits, None when there is none)."""

    __slots__ = ("bounds", "data", "nbytes_", "nulls")

    def __init__(self, data: bytes, bounds: np.ndarray[Any, Any], nulls: Any) -> None:
        self.data = data
        self.bounds = bounds
        self.nulls: np.ndarray[Any, Any] | None = nulls
        # A sealed chunk never changes: its size is taken once (the budget asks after each
        # answer, across hundreds of chunks).
        self.nbytes_ = sys.getsizeof(data) + bounds.nbytes + (0 if nulls is None else nulls.nbytes)

    @classmethod
    def of(cls, values: Sequence[str | None]) -> Packed:
        texts = ["" if value is None else value for value in values]
        joined = "\0".join(texts)
        if joined.isascii():
            lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        else:
            lengths = np.fromiter((len(utf8(t)) for t in texts), np.int64, len(texts))
        bounds = np.zeros(len(texts) + 1, np.int64)
        np.cumsum(lengths + 1, out=bounds[1:])
        nulls = None
        if any(value is None for value in values):
            nulls = np.packbits(np.fromiter((v is None for v in values), bool, len(values)))
        return cls(utf8(f"\0{joined}\0"), bounds.astype(np.int32), nulls)

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def null_mask(self) -> np.ndarray[Any, Any]:
        if self.nulls is None:
            return np.zeros(len(self), bool)
        return np.unpackbits(self.nulls, count=len(self)).astype(bool)

    def is_null(self, position: int) -> bool:
        nulls = self.nulls
        return nulls is not None and bool((nulls[position >> 3] >> (7 - (position & 7))) & 1)

    def text(self, position: int) -> str:
        """Value `position` as text ("" for None)."""
        start, end = self.bounds[position : position + 2].tolist()
        return _decode(self.data[start + 1 : end])

    def get(self, position: int) -> str | None:
        return None if self.is_null(position) else self.text(position)

    def texts(self) -> list[str]:
        """Every value as text ("" for None): one decode and one split."""
        if not len(self):
            return []
        return _decode(self.data[1:-1]).split("\0")

    def values(self) -> list[str | None]:
        values: list[str | None] = list(self.texts())
        if self.nulls is not None:
            for position in np.flatnonzero(self.null_mask()).tolist():
                values[position] = None
        return values

    def nbytes(self) -> int:
        return self.nbytes_ + 64

    def entries_with(self, pattern: bytes) -> np.ndarray[Any, Any]:
        """The positions of the values in which `pattern` (a NUL framing one end or both
        included) occurs, unordered and possibly repeated."""
        if not len(self):
            return np.zeros(0, np.int64)
        if len(pattern) == 1:
            # A single byte is in most values: which values hold one, without listing where
            hit = np.frombuffer(self.data, np.uint8) == pattern[0]
            found: np.ndarray[Any, Any] = np.flatnonzero(
                np.logical_or.reduceat(hit, self.bounds[:-1])
            )
            return found
        at = starts_of(self.data, pattern)
        # A hit lies in the value after the last NUL at or before it (a framed pattern's hit
        # is at the NUL before its value).
        values = np.searchsorted(self.bounds, at, side="right") - 1
        within: np.ndarray[Any, Any] = values[values < len(self)]
        return within


def starts_of(data: bytes, pattern: bytes) -> np.ndarray[Any, Any]:
    """Every offset of `data` at which `pattern` (two bytes or more) starts, overlapping ones
    included, unordered. Its first two bytes are compared at once, as one 16-bit number at even
    offsets then odd ones; the rest is checked at those candidates only. Up to twice as fast as
    `re` over a million emails, most for the commonest syllables, whose hits `re` yields one
    Python object at a time (docs/decisions.md)."""
    size = len(data)
    if size < len(pattern):
        return np.zeros(0, np.int64)
    first_two = int.from_bytes(pattern[:2], "little")
    even = np.frombuffer(data, "<u2", size // 2)  # little-endian, as `first_two` was read
    odd = np.frombuffer(data, "<u2", (size - 1) // 2, offset=1)
    at = np.concatenate(
        (np.flatnonzero(even == first_two) * 2, np.flatnonzero(odd == first_two) * 2 + 1)
    )
    at = at[at <= size - len(pattern)]
    if len(pattern) > 2:
        data_bytes = np.frombuffer(data, np.uint8)
        for offset in range(2, len(pattern)):
            at = at[data_bytes[at + offset] == pattern[offset]]
    return at


def _slot(value: str | None) -> int:
    """A loose value's bytes: its str object and its list slot."""
    return 8 + (sys.getsizeof(value) if value is not None else 0)


class PackedTexts(Sequence[str | None]):
    """A growing sequence of texts (or None), packed: reads as a list, appends in amortised
    O(1). Safe to read (below the length seen) while another thread appends: a chunk is sealed
    by replacing (chunks, tail) at once, never by clearing the tail a reader may hold."""

    def __init__(self, values: Iterable[str | None] = (), chunk: int | None = None) -> None:
        self.chunk = CHUNK if chunk is None else chunk
        self._state: tuple[tuple[Packed, ...], list[str | None]] = ((), [])
        # The chunk read last, decoded once read twice in a row: reads by position in order (an
        # export) decode a chunk at a time, reads at random one value at a time.
        self._decoded: tuple[int, list[str | None] | None] = (-1, None)
        # nbytes(), kept in parts so that each is counted again only when it changed: the
        # budget asks after every answer, and a catch-up appends to the tail each time.
        self._chunk_bytes = (0, 0)  # (chunks counted, their bytes)
        self._tail_bytes: tuple[list[str | None], int, int] = ([], 0, 0)  # (tail, counted, bytes)
        self._decoded_bytes: tuple[list[str | None] | None, int] = (None, 0)
        self.extend(values)

    @property
    def chunks(self) -> tuple[Packed, ...]:
        """The sealed chunks, `chunk` values each, in order."""
        return self._state[0]

    @property
    def tail(self) -> list[str | None]:
        """The values after the sealed chunks (fewer than `chunk`)."""
        return self._state[1]

    def __len__(self) -> int:
        chunks, tail = self._state
        return len(chunks) * self.chunk + len(tail)

    def append(self, value: str | None) -> None:
        chunks, tail = self._state
        tail.append(value)
        if len(tail) == self.chunk:
            self._state = ((*chunks, Packed.of(tail)), [])

    def extend(self, values: Iterable[str | None]) -> None:
        chunks, tail = self._state
        for value in values:
            tail.append(value)
            if len(tail) == self.chunk:
                chunks, tail = (*chunks, Packed.of(tail)), []
                self._state = (chunks, tail)
        self._state = (chunks, tail)

    def _item(self, index: int) -> str | None:
        chunks, tail = self._state
        size = len(chunks) * self.chunk + len(tail)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("PackedTexts index out of range")
        at, position = divmod(index, self.chunk)
        if at >= len(chunks):
            return tail[position]
        last, decoded = self._decoded
        if at == last and decoded is not None:
            return decoded[position]
        if at == last:  # a second read in a row from this chunk: read by position, decode it
            decoded = chunks[at].values()
            self._decoded = (at, decoded)
            return decoded[position]
        self._decoded = (at, None)
        return chunks[at].get(position)

    @overload
    def __getitem__(self, index: int) -> str | None: ...

    @overload
    def __getitem__(self, index: slice) -> list[str | None]: ...

    def __getitem__(self, index: int | slice) -> str | list[str | None] | None:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self._item(i) for i in range(start, stop, step)]
            return self._range(start, stop)
        return self._item(index)

    def _range(self, start: int, stop: int) -> list[str | None]:
        chunks, tail = self._state
        values: list[str | None] = []
        first = start // self.chunk
        for at in range(first, len(chunks)):
            base = at * self.chunk
            if base >= stop:
                return values
            values.extend(chunks[at].values()[max(start - base, 0) : stop - base])
        base = len(chunks) * self.chunk
        values.extend(tail[max(start - base, 0) : max(stop - base, 0)])
        return values

    def __iter__(self) -> Iterator[str | None]:
        chunks, tail = self._state
        size = len(tail)
        for chunk in chunks:
            yield from chunk.values()
        yield from tail[:size]

    def slices(self) -> Slices:
        """Its values' UTF-8 by position, as they are now: for an export, which joins bytes."""
        return Slices(self)

    def nbytes(self) -> int:
        """What it holds: the chunks, and the tail's str objects with their list slots (and
        those of the chunk last decoded)."""
        chunks, tail = self._state
        counted, packed = self._chunk_bytes
        if counted != len(chunks):
            packed = sum(chunk.nbytes() for chunk in chunks)
            self._chunk_bytes = (len(chunks), packed)
        seen, done, loose = self._tail_bytes
        size = len(tail)
        if seen is not tail or done > size:  # a chunk was sealed: a new tail
            done, loose = 0, 0
        loose += sum(_slot(value) for value in tail[done:size])
        self._tail_bytes = (tail, size, loose)
        decoded = self._decoded[1]
        if self._decoded_bytes[0] is not decoded:
            self._decoded_bytes = (decoded, sum(_slot(value) for value in decoded or ()))
        return packed + loose + self._decoded_bytes[1] + 8 * len(chunks) + 120


class Slices:
    """The UTF-8 of a PackedTexts' values (b"" for None) by position, as it held them when made:
    slices of its chunks' data, so no str is made a value and nothing is decoded whole (an
    export at 1M leads held ~150 MB of decoded str). Every chunk's bounds are copied into one
    array (4 bytes a value) so that a batch of positions is two gathers, not a loop over chunks
    (a third less time for 20,000 positions over 245 chunks)."""

    def __init__(self, texts: PackedTexts) -> None:
        chunks, tail = texts._state
        chunks = (*chunks, Packed.of(tail[: len(tail)]))  # the loose values, packed once
        self.step = texts.chunk + 1  # chunk c's bounds start at c * step
        self.datas = [chunk.data for chunk in chunks]
        self.bounds = np.concatenate([chunk.bounds for chunk in chunks])

    def __call__(self, positions: np.ndarray[Any, Any]) -> list[bytes]:
        at, within = np.divmod(np.asarray(positions, np.int64), self.step - 1)
        flat = at * self.step + within
        starts = (self.bounds[flat] + 1).tolist()
        ends = self.bounds[flat + 1].tolist()
        datas = self.datas
        return [datas[c][s:e] for c, s, e in zip(at.tolist(), starts, ends, strict=True)]
