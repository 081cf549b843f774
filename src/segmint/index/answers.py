"""Per-value answers kept between requests, for conditions over large dictionaries.

A condition on a dictionary column is answered once per distinct value, then gathered to the
rows. For a column of a few distinct values (status, source) that first step is free; for one
of nearly a value per lead (name, email, phone: what a search reads) it is a scan of megabytes
of text, repeated by every page, sort and count of the same search. Its answer depends on the
values alone, and values are only ever appended to a dictionary (a row that changes gets a new
code, an old value stays where it was), so an answer stays right for the values it was
computed for and is extended with the values added since: never recomputed, never stale.

Conditions whose answer moves with `now` (within the last N days, this month) are not kept.
Answers are held as packed bits (an eighth of a byte a value), most recently used first, within
a fixed budget that `nbytes` reports with the index.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from segmint.bucketing import buckets_of
from segmint.filters.fields import FieldSpec
from segmint.filters.operators import Operator
from segmint.filters.timing import TimeContext
from segmint.index.columns import DictionaryColumn
from segmint.index.tables import EventTable
from segmint.index.vectors import BoolArray, DictionaryOperand

MIN_VALUES: Final = 4096  # below this, answering again is as cheap as looking up
MAX_BYTES: Final = 8 * 1024 * 1024
MIN_KEPT: Final = 16  # ... or room for this many answers as large as the last (a search is three)
MAX_SALTS: Final = 8  # random splits' buckets kept: a byte per lead each
MAX_LASTING: Final = 32  # answers kept that move with the events only: an eighth of a byte a lead
WINDOW_BYTES: Final = 16 * 1024 * 1024  # windows' counts kept: a byte a lead each, mostly
WINDOW_BYTES_PER_LEAD: Final = 16  # ... or more in a larger project: as many windows kept
NO_TIME: Final = np.iinfo(np.int64).max  # no such event: later than any event's instant


@dataclass
class _Kept:
    column: DictionaryColumn  # held so that its id is not reused while the answer is kept
    size: int  # how many of its values the answer covers
    bits: np.ndarray[Any, np.dtype[np.uint8]]


class AnswerCache:
    def __init__(
        self,
        max_bytes: int = MAX_BYTES,
        min_values: int = MIN_VALUES,
        min_kept: int = MIN_KEPT,
        window_bytes: int = WINDOW_BYTES,
        window_bytes_per_lead: int = WINDOW_BYTES_PER_LEAD,
    ) -> None:
        self._kept: OrderedDict[tuple[Any, ...], _Kept] = OrderedDict()
        self._max_bytes = max_bytes
        self._min_values = min_values
        self._min_kept = min_kept
        self._counts: dict[int, _Counts] = {}
        self._firsts: dict[int, _Counts] = {}
        self._buckets: OrderedDict[str, np.ndarray[Any, Any]] = OrderedDict()
        self._windows: OrderedDict[Hashable, _Window] = OrderedDict()
        self._window_bytes = window_bytes
        self._window_bytes_per_lead = window_bytes_per_lead
        self._lasting: OrderedDict[Hashable, _Lasting] = OrderedDict()
        self._bytes = 0

    def per_value(
        self,
        column: DictionaryColumn,
        op: Operator,
        spec: FieldSpec,
        value: Any,
        time: TimeContext,
    ) -> BoolArray:
        """`op` with `value` answered for each of the column's distinct values."""
        operand = column.operand
        if op.time_relative or operand.size < self._min_values:
            answer: BoolArray = op.vector(operand, spec, value, time)
            return answer
        key = (id(column), op.key, spec, json.dumps(value, sort_keys=True, default=str))
        kept = self._kept.get(key)
        if kept is not None and kept.column is column and kept.size <= operand.size:
            answer = np.unpackbits(kept.bits, count=kept.size).view(np.bool_)
            if kept.size < operand.size:
                added = DictionaryOperand(operand.values[kept.size :])
                answer = np.concatenate((answer, op.vector(added, spec, value, time)))
        else:
            answer = op.vector(operand, spec, value, time)
        self._keep(key, _Kept(column, len(answer), np.packbits(answer)))
        return answer

    def _keep(self, key: tuple[Any, ...], kept: _Kept) -> None:
        old = self._kept.pop(key, None)
        if old is not None:
            self._bytes -= old.bits.nbytes
        self._kept[key] = kept
        self._bytes += kept.bits.nbytes
        # At 50M leads one search's answer over the emails is 6 MB: a fixed budget would
        # evict it before the search's next page asked again.
        budget = max(self._max_bytes, self._min_kept * kept.bits.nbytes)
        while self._bytes > budget and len(self._kept) > 1:
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= dropped.bits.nbytes

    def type_counts(self, events: EventTable, code: int, leads: int) -> np.ndarray[Any, Any]:
        """How many events of type `code` each lead row has, over all time: a condition with
        no window and no `where` ("10+ page views, ever"). Kept per type and brought up to date
        with the events appended to the tail since; counted anew after a merge of the tail."""
        kept = self._counts.get(code)
        tail_types = events.tail_types.live
        if kept is None or kept.main_size != len(events.ids):
            low, high = events.type_slice(code)
            counts = np.bincount(events.lead_rows[low:high], minlength=leads).astype(np.int32)
            kept = _Counts(len(events.ids), 0, counts)
        if kept.tail_seen < len(tail_types):
            new = slice(kept.tail_seen, len(tail_types))
            rows = events.tail_lead_rows.live[new][tail_types[new] == code]
            kept.counts = _padded(kept.counts, max(leads, len(kept.counts)))
            added = np.bincount(rows, minlength=len(kept.counts)).astype(np.int32)
            kept.counts = kept.counts + added  # not in place: an answer handed out may be read
            kept.tail_seen = len(tail_types)
        self._counts[code] = kept
        return _padded(kept.counts, leads)[:leads]

    def first_times(self, events: EventTable, code: int, leads: int) -> np.ndarray[Any, Any]:
        """Each lead row's earliest event of type `code` (NO_TIME for none), over all time: the
        first step of a sequence with no window and no `where`. Kept per type as type_counts
        is, lowered by the events appended to the tail since (never raised: events are only
        added, and a deleted lead's row is masked out by the caller); taken anew after a merge
        of the tail. The answer handed out must not be written to."""
        kept = self._firsts.get(code)
        tail_types = events.tail_types.live
        if kept is None or kept.main_size != len(events.ids):
            low, high = events.type_slice(code)
            firsts = np.full(leads, NO_TIME, np.int64)
            np.minimum.at(firsts, events.lead_rows[low:high], events.at[low:high])
            kept = _Counts(len(events.ids), 0, firsts)
        if kept.tail_seen < len(tail_types):
            new = slice(kept.tail_seen, len(tail_types))
            of_type = tail_types[new] == code
            firsts = _padded(kept.counts, max(leads, len(kept.counts)), NO_TIME).copy()
            rows = events.tail_lead_rows.live[new][of_type]
            np.minimum.at(firsts, rows, events.tail_at.live[new][of_type])
            kept.counts = firsts  # a new array: an answer handed out may be read
            kept.tail_seen = len(tail_types)
        self._firsts[code] = kept
        return _padded(kept.counts, leads, NO_TIME)[:leads]

    def window_counts(
        self,
        events: EventTable,
        key: Hashable,
        window: slice,
        leads: int,
        rows_in: Callable[[slice], np.ndarray[Any, Any]],
    ) -> np.ndarray[Any, Any]:
        """How many of the sorted part's events in `window` (a slice of one type's) each lead
        row has, counting those `rows_in(part)` gives the lead rows of (window_totals)."""
        return self.window_totals(
            events, key, window, leads, lambda part: np.bincount(rows_in(part), minlength=leads)
        )

    def window_totals(
        self,
        events: EventTable,
        key: Hashable,
        window: slice,
        leads: int,
        tally: Callable[[slice], np.ndarray[Any, Any]],
    ) -> np.ndarray[Any, Any]:
        """Each lead row's total of integers over the sorted part's events in `window` (a
        slice of one type's), `tally(part)` giving the totals of a part (at least `leads` of
        them; a count, or a sum of integers). A condition's window ("in the last 30 days")
        slides with now, so its totals are kept under `key` and moved to the new window by
        the events that left it and came into it since: a few, where tallying the window anew
        reads it all (a million page views). Tallied anew after a merge of the tail, or when
        the window moved further than its own length. The caller must give the same `tally`
        for a key (the same type, `where` and path, none moving with now). The answer is
        read-only (it may be the kept totals themselves), in the narrowest integer type that
        holds it."""
        kept = self._windows.pop(key, None)
        start, stop = window.start, window.stop
        if kept is None or kept.main_size != len(events.ids) or not kept.near(start, stop):
            totals = _smallest(tally(window)[:leads])
        elif kept.moves(start, stop) or len(kept.counts) < leads:
            moving = _padded(kept.counts, leads)[:leads].astype(np.int64)
            for part, sign in kept.moves(start, stop):
                moved = tally(part)[: len(moving)]
                moving += moved if sign > 0 else -moved
            totals = _smallest(moving)
        else:  # the same window: no event left or came in since the last ask
            totals = kept.counts
        totals.flags.writeable = False
        self._keep_window(key, _Window(len(events.ids), start, stop, totals), leads)
        return totals[:leads]

    def lasting(
        self,
        events: EventTable,
        key: Hashable,
        codes: set[int],
        leads: int,
        answer: Callable[[BoolArray | None], BoolArray],
    ) -> BoolArray:
        """An answer that moves with the events alone, never with now (a sequence with no
        `since_days`): `answer(rows)` gives it right at least at `rows` (a mask; None: all).
        Kept under `key` and brought up to date by answering again only for the leads with
        events of `codes` appended to the tail since (a lead's answer reads its own events
        only); answered anew after a merge of the tail. Held as packed bits; read-only."""
        kept = self._lasting.pop(key, None)
        tail_types = events.tail_types.live
        if kept is None or kept.main_size != len(events.ids):
            found = answer(None)
        else:
            found = _padded(np.unpackbits(kept.bits, count=kept.size).view(np.bool_), leads)
            new = slice(kept.tail_seen, len(tail_types))
            of_codes = np.isin(tail_types[new], list(codes))
            if of_codes.any():
                touched = np.zeros(leads, bool)
                touched[events.tail_lead_rows.live[new][of_codes]] = True
                found = np.where(touched, answer(touched), found)
        found = found[:leads]
        self._lasting[key] = _Lasting(
            len(events.ids), len(tail_types), len(found), np.packbits(found)
        )
        while len(self._lasting) > MAX_LASTING:
            self._lasting.popitem(last=False)
        found.flags.writeable = False
        return found

    def window_flags(
        self,
        events: EventTable,
        key: Hashable,
        window: slice,
        leads: int,
        flags_of: Callable[[slice], BoolArray],
    ) -> BoolArray:
        """One flag per position of `window` (a slice of one type's events in the sorted
        part), `flags_of(part)` giving a part's: each position's flag depends on the events
        alone, so the flags are kept under `key` and, as the window moves, worked out only
        for the positions that came into it. Worked out anew after a merge of the tail, or
        when the window moved further than its own length. Read-only."""
        kept = self._windows.pop(key, None)
        start, stop = window.start, window.stop
        if kept is None or kept.main_size != len(events.ids) or not kept.near(start, stop):
            flags = flags_of(window)
        else:
            before = flags_of(slice(start, kept.start)) if start < kept.start else None
            after = flags_of(slice(kept.stop, stop)) if stop > kept.stop else None
            inside = kept.counts[
                max(start, kept.start) - kept.start : min(stop, kept.stop) - kept.start
            ]
            parts = [part for part in (before, inside, after) if part is not None]
            flags = parts[0] if len(parts) == 1 else np.concatenate(parts)
        flags.flags.writeable = False
        self._keep_window(key, _Window(len(events.ids), start, stop, flags), leads)
        return flags

    def _keep_window(self, key: Hashable, window: _Window, leads: int) -> None:
        """Keep `window`, the least recently asked making way. The budget grows with the
        project's leads, so that a large project keeps as many windows as a small one (at 50M
        leads one window of a byte a lead is 50 MB: a fixed budget would keep only the last)."""
        self._windows[key] = window
        budget = max(self._window_bytes, self._window_bytes_per_lead * leads)
        while sum(w.counts.nbytes for w in self._windows.values()) > budget:
            if len(self._windows) == 1:
                break
            self._windows.popitem(last=False)

    def buckets(self, salt: str, lead_ids: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Each lead row's random-split bucket for a salt (`lead_ids`: the id of every row).
        A row's id never changes and rows are only appended, so the buckets are hashed once
        per salt and extended with the rows added since; the last few salts are kept."""
        kept = self._buckets.pop(salt, None)
        if kept is None or len(kept) > len(lead_ids):
            kept = buckets_of(salt, lead_ids)
        elif len(kept) < len(lead_ids):
            kept = np.concatenate((kept, buckets_of(salt, lead_ids[len(kept) :])))
        self._buckets[salt] = kept
        while len(self._buckets) > MAX_SALTS:
            self._buckets.popitem(last=False)
        return kept

    def nbytes(self) -> int:
        kept_per_type = (*self._counts.values(), *self._firsts.values())
        counts = sum(kept.counts.nbytes for kept in kept_per_type)
        counts += sum(kept.counts.nbytes for kept in self._windows.values())
        counts += sum(kept.bits.nbytes for kept in self._lasting.values())
        return self._bytes + counts + sum(kept.nbytes for kept in self._buckets.values())


@dataclass
class _Counts:
    """One number per lead row for one event type (a count, or the earliest instant)."""

    main_size: int  # the sorted part's size when counted: it changes only when the tail merges
    tail_seen: int  # tail events counted
    counts: np.ndarray[Any, Any]


@dataclass
class _Lasting:
    """An answer per lead row that moves with the events alone (AnswerCache.lasting)."""

    main_size: int
    tail_seen: int
    size: int
    bits: np.ndarray[Any, np.dtype[np.uint8]]


@dataclass
class _Window:
    """Totals per lead row of the events in [start, stop) of the sorted part (window_totals),
    or one flag per position of it (window_flags)."""

    main_size: int
    start: int
    stop: int
    counts: np.ndarray[Any, Any]

    def near(self, start: int, stop: int) -> bool:
        """Whether [start, stop) overlaps this window and moving costs less than counting it."""
        overlap = min(self.stop, stop) - max(self.start, start)
        moved = abs(start - self.start) + abs(stop - self.stop)
        return overlap > 0 and moved < stop - start

    def moves(self, start: int, stop: int) -> list[tuple[slice, int]]:
        """The parts to add (+1) and take away (-1) to go from this window to [start, stop),
        which overlaps it."""
        parts = [
            (slice(start, self.start), 1),
            (slice(self.start, start), -1),
            (slice(self.stop, stop), 1),
            (slice(stop, self.stop), -1),
        ]
        return [(part, sign) for part, sign in parts if part.stop > part.start]


def _smallest(totals: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Integers in the narrowest type that holds them: a lead rarely has 256 events of a type
    in a window, so most counts are kept in a byte a lead."""
    low, high = (int(totals.min()), int(totals.max())) if len(totals) else (0, 0)
    return totals.astype(np.promote_types(np.min_scalar_type(low), np.min_scalar_type(high)))


def _padded(counts: np.ndarray[Any, Any], size: int, none: int = 0) -> np.ndarray[Any, Any]:
    """Numbers for `size` lead rows: leads added since have no events yet (`none`)."""
    if len(counts) >= size:
        return counts
    return np.concatenate((counts, np.full(size - len(counts), none, counts.dtype)))
