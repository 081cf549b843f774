"""A filter tree over the index: one boolean per lead row, by the registry's vector forms.

The walk mirrors filters/evaluate.py node for node (the parity test holds the two together);
what differs is only that each answer is for every lead at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, assert_never
from zoneinfo import ZoneInfo

import numpy as np

from segmint.errors import InvalidInput
from segmint.filters.fields import (
    FieldSpec,
    Storage,
    Table,
    resolve_account_field,
    resolve_event_field,
    resolve_field,
)
from segmint.filters.operators import OPERATORS
from segmint.filters.parse import referenced_tree
from segmint.filters.source import SegmentSource
from segmint.filters.timing import TimeContext, day_start, local_date
from segmint.filters.tree import (
    ACCOUNTS,
    AccountSegmentRef,
    Aggregate,
    And,
    Bucket,
    Condition,
    DistinctEvents,
    EventCondition,
    EventSequence,
    LeadsCondition,
    ListRef,
    ManualRef,
    Node,
    Not,
    Or,
    SegmentRef,
    SegmentTenure,
    SequenceStep,
)
from segmint.index.answers import NO_TIME, AnswerCache
from segmint.index.columns import DenseColumn, DictionaryColumn
from segmint.index.tables import AccountTable, EventTable, LeadTable, Memberships, Path
from segmint.index.vectors import BoolArray, gather, micros, micros_to_datetime
from segmint.projects import Project


class Declined(Exception):
    """The index has no vector form for this tree (an account segment's own answers, an account
    filter on `created_at`): not a failure of the index, the SQL path answers instead
    (docs/decisions.md)."""


Rows = np.ndarray[Any, Any] | None  # lead rows to answer for; None: all of them
Positions = np.ndarray[Any, Any] | slice  # events to answer for
FEW_LEFT = 16  # an AND reads only its candidate rows once fewer than 1 in 16 are left
Bounds = tuple[int | None, int | None]  # [from, before) in microseconds; None: open


Ints = np.ndarray[Any, Any]
_NONE: Ints = np.zeros(0, np.int64)


def _json_number(raw: Any) -> float:
    """A JSON number as a float, anything else NaN (as the SQL views read numbers)."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    return float("nan")


class NotIndexed(Declined):
    """A filter the index does not answer here: SQL answers it instead, and the index is fine.

    Time in segment while the asking transaction has itself changed the referenced segment's
    members (a sync pass): the index holds committed memberships only."""


@dataclass(frozen=True)
class Loaders:
    """What the walk asks for the first time a filter names it (read in the walk's snapshot)."""

    lead_path: Callable[[str, Path], DictionaryColumn]
    account_path: Callable[[Path], DictionaryColumn]
    event_path: Callable[[str, Path], DictionaryColumn]
    members: Callable[[tuple[str, int]], None]
    entered: Callable[[int], None]  # an active segment's members and their entered_at
    # whether the asking transaction has changed the segment's members, uncommitted
    members_written: Callable[[int], bool] = lambda segment_id: False


@dataclass
class Walk:
    project: Project
    time: TimeContext
    leads: LeadTable
    accounts: AccountTable
    events: EventTable
    memberships: Memberships
    segments: SegmentSource | None
    load: Loaders
    answers: AnswerCache
    inlining: tuple[int, ...] = field(default=())
    # The last interest mask asked about, with its leads' events in the sorted part: the
    # event conditions of a walk (one per type for distinct events) share it.
    _kept_interest: _Interest | None = field(default=None, init=False, repr=False)

    # -- leads ---------------------------------------------------------------------------

    def mask(self, node: Node, rows: Rows = None) -> BoolArray:
        """One answer per lead row, or per row of `rows` when given (an AND's candidates)."""
        match node:
            case And(children):
                return self._all(children, rows)
            case Or(children):
                result = np.zeros(self._size(rows), bool)
                for child in children:
                    result |= self.mask(child, rows)
                return result
            case Not(child):
                return ~self.mask(child, rows)
            case Condition():
                return self._sized(self._condition(node, rows), rows)
            case EventCondition():
                answer = self._event(node, self._interest(rows))
                return self._sized(self._picked(answer, rows), rows)
            case DistinctEvents():
                answer = self._distinct_events(node, self._interest(rows))
                return self._sized(self._picked(answer, rows), rows)
            case EventSequence():
                answer = self._sequence(node, self._interest(rows))
                return self._sized(self._picked(answer, rows), rows)
            case SegmentRef():
                return self._segment(node, rows)
            case SegmentTenure():
                return self._picked(self._tenure(node), rows)
            case ListRef(list_id):
                return self._picked(self.members(("list", list_id)), rows)
            case ManualRef(segment_id, kind):
                return self._picked(self.members((kind, segment_id)), rows)
            case AccountSegmentRef():
                return self._in_account_segment(node, rows)
            case LeadsCondition():
                raise InvalidInput("a 'leads' node belongs to an account segment's filter")
            case Bucket(low, high, salt):
                buckets = self.answers.buckets(salt, self.leads.ids.ids.live)
                picked = self._picked(buckets, rows)
                return self._sized((picked >= low) & (picked < high), rows)
            case _:
                assert_never(node)

    def _all(self, children: tuple[Node, ...], rows: Rows) -> BoolArray:
        """AND: once few rows are left, the other children are read at those rows only (a
        selective first condition makes the rest nearly free)."""
        result = np.ones(self._size(rows), bool)
        for child in children:
            left = int(np.count_nonzero(result))  # cheaper than listing them when many are left
            if not left:
                break
            if left * FEW_LEFT < len(result):
                at = np.flatnonzero(result)
                result[at] = self.mask(child, at if rows is None else rows[at])
            else:
                result &= self.mask(child, rows)
        return result

    def _interest(self, rows: Rows) -> BoolArray | None:
        """The lead rows an answer will be read at, as a mask, when they are few (a worker's
        sync of the leads just written, an AND's last candidates): the event conditions that
        sort their events (distinct days, sequences) then sort only those rows' events, and
        answer anything at the other rows. None: every row is read."""
        if rows is None or len(rows) * FEW_LEFT >= len(self.leads):
            return None
        return _of_rows(rows, len(self.leads))

    def _size(self, rows: Rows) -> int:
        return len(self.leads) if rows is None else len(rows)

    def _sized(self, answer: BoolArray, rows: Rows) -> BoolArray:
        """An answer for exactly the rows asked about: numpy would broadcast a short one into a
        wrong count, so a column out of step with the table is an error (SQL then answers)."""
        if answer.shape != (self._size(rows),):
            raise IndexError(f"an answer for {answer.shape} rows, not {self._size(rows)}")
        return answer

    @staticmethod
    def _picked(answer: BoolArray, rows: Rows) -> BoolArray:
        return answer if rows is None else gather(answer, rows)

    def members(self, key: tuple[str, int]) -> BoolArray:
        if not self.memberships.has(key):
            self.load.members(key)
        return self.memberships.mask(key, self.leads)

    def _tenure(self, node: SegmentTenure) -> BoolArray:
        """Members of the segment's maintained membership whose current membership began at
        least / within `days` days before now, and not after now (as filters/evaluate.py)."""
        if self.load.members_written(node.segment_id):
            raise NotIndexed(f"this transaction changed segment {node.segment_id}'s members")
        if not self.memberships.has_entered(node.segment_id):
            self.load.entered(node.segment_id)
        entered = self.memberships.entered_at(node.segment_id)
        now = micros(self.time.now)
        boundary = micros(self.time.now - timedelta(days=node.days))
        began = entered <= boundary if node.at_least else entered > boundary
        answer: BoolArray = began & (entered <= now)  # a non-member's NOT_A_MEMBER never is
        return answer

    def _condition(self, node: Condition, rows: Rows) -> BoolArray:
        spec = resolve_field(node.field, self.project)
        op = OPERATORS[node.op]
        if spec.table is Table.ACCOUNTS:
            column = self._account_column(spec)
            per_account = column.gather(self._per_value(column, node, spec))
            return self._picked(per_account, self._picked(self.leads.account_rows.live, rows))
        lead_column = self._lead_column(spec)
        if isinstance(lead_column, DenseColumn):
            answer: BoolArray = op.vector(lead_column.operand(rows), spec, node.value, self.time)
            return answer
        return lead_column.gather(self._per_value(lead_column, node, spec), rows)

    def _per_value(self, column: DictionaryColumn, node: Condition, spec: FieldSpec) -> BoolArray:
        return self.answers.per_value(column, OPERATORS[node.op], spec, node.value, self.time)

    def _lead_column(self, spec: FieldSpec) -> DictionaryColumn | DenseColumn:
        if spec.storage is Storage.NAME:
            return self.leads.columns["name"]
        if spec.storage is Storage.ENRICHMENT_STATUS:
            return self.leads.columns["enrichment_status"]
        if spec.storage is Storage.JSON:
            column = self.leads.paths.get((spec.column, spec.path))
            return column if column is not None else self.load.lead_path(spec.column, spec.path)
        return self.leads.columns[spec.column]

    def _account_column(self, spec: FieldSpec) -> DictionaryColumn:
        if spec.storage is Storage.JSON:
            column = self.accounts.paths.get(spec.path)
            return column if column is not None else self.load.account_path(spec.path)
        return self.accounts.columns[spec.column]

    # -- accounts (`in_account_segment`) --------------------------------------------------

    def _in_account_segment(self, node: AccountSegmentRef, rows: Rows) -> BoolArray:
        """The account segment's answer per account row, read at each lead's account row (row
        0, "no account", never a member)."""
        tree = referenced_tree(
            node.segment_id, self.segments, self.inlining, self.project, ACCOUNTS
        )
        self.inlining = (*self.inlining, node.segment_id)
        try:
            members = self.account_mask(tree).copy()
        finally:
            self.inlining = self.inlining[:-1]
        members[0] = False
        account_rows = self._picked(self.leads.account_rows.live, rows)
        answer: BoolArray = members[account_rows]
        return answer

    def account_mask(self, node: Node) -> BoolArray:
        """One answer per account row of an account filter (mirrors evaluate_account)."""
        size = len(self.accounts.ids)
        match node:
            case And(children):
                result = np.ones(size, bool)
                for child in children:
                    result &= self.account_mask(child)
                return result
            case Or(children):
                result = np.zeros(size, bool)
                for child in children:
                    result |= self.account_mask(child)
                return result
            case Not(child):
                return ~self.account_mask(child)
            case Condition():
                spec = resolve_account_field(node.field)
                if spec.storage is not Storage.JSON and spec.column not in self.accounts.columns:
                    raise Declined(f"the index holds no account {spec.column}")
                column = self._account_column(spec)
                return self._account_sized(column.gather(self._per_value(column, node, spec)))
            case LeadsCondition():
                return self._account_leads(node)
            case SegmentRef():
                tree = referenced_tree(
                    node.segment_id, self.segments, self.inlining, self.project, ACCOUNTS
                )
                self.inlining = (*self.inlining, node.segment_id)
                try:
                    return self.account_mask(tree)
                finally:
                    self.inlining = self.inlining[:-1]
            case (
                EventCondition()
                | DistinctEvents()
                | EventSequence()
                | SegmentTenure()
                | Bucket()
                | ListRef()
                | ManualRef()
                | AccountSegmentRef()
            ):  # refused by the parser
                raise InvalidInput("a lead condition outside an account filter's 'leads' node")
            case _:
                assert_never(node)

    def _account_sized(self, answer: BoolArray) -> BoolArray:
        if answer.shape != (len(self.accounts.ids),):
            raise IndexError(f"an answer for {answer.shape} accounts, not {len(self.accounts.ids)}")
        return answer

    def _account_leads(self, node: LeadsCondition) -> BoolArray:
        """Per account row: how many of its live leads match the node's lead filter, within
        the bounds (the "no account" row counts the leads without one; callers ignore it)."""
        matching = self.mask(node.where) & self.leads.alive.live
        counts = np.bincount(
            self.leads.account_rows.live[matching], minlength=len(self.accounts.ids)
        )
        within: BoolArray = counts >= node.min_count
        if node.max_count is not None:
            within &= counts <= node.max_count
        return within

    def _segment(self, node: SegmentRef, rows: Rows) -> BoolArray:
        tree = referenced_tree(node.segment_id, self.segments, self.inlining, self.project)
        self.inlining = (*self.inlining, node.segment_id)
        try:
            return self.mask(tree, rows)
        finally:
            self.inlining = self.inlining[:-1]

    # -- events ----------------------------------------------------------------------------

    def _event(self, node: EventCondition, interest: BoolArray | None = None) -> BoolArray:
        """Leads whose events match; right at least where `interest` is set (_interest)."""
        if node.min_distinct_days is None and node.aggregate is None:
            counts = self._event_counts(node, interest)
            within = counts >= node.min_count
        elif (kept := self._kept_test(node, interest)) is not None:
            counts = self._event_counts(node, interest)
            within = (counts >= node.min_count) & kept
        else:  # distinct local days or an aggregate, beside the counts as usual
            rows, at, positions = self._matching(node, interest)
            counts = np.bincount(rows, minlength=len(self.leads))[: len(self.leads)]
            within = counts >= node.min_count
            if node.min_distinct_days is not None:
                within &= self._distinct_days(rows, at) >= node.min_distinct_days
            if node.aggregate is not None:
                within &= self._aggregate(node.aggregate, node.type, rows, positions)
        if node.max_count is not None:
            within &= counts <= node.max_count
        return within if node.performed else ~within

    def _kept_test(self, node: EventCondition, interest: BoolArray | None) -> BoolArray | None:
        """The distinct-days or aggregate test of a condition that has one of the two, from
        totals kept with its window when they apply (None: they do not)."""
        if node.aggregate is not None and node.min_distinct_days is None:
            return self._summed(node, interest)
        if node.min_distinct_days is not None and node.aggregate is None:
            days = self._kept_days(node, interest)
            return None if days is None else days >= node.min_distinct_days
        return None

    def _bounds(self, within_days: int | None, older_than_days: int | None) -> Bounds:
        """A window as [from, before) microseconds: `within_days` ends at now (inclusive, so
        just after it), `older_than_days` before now - D2."""
        now = self.time.now
        start = None if within_days is None else micros(now - timedelta(days=within_days))
        stop = None if within_days is None else micros(now) + 1
        if older_than_days is not None:
            stop = micros(now - timedelta(days=older_than_days))
        return start, stop

    def _in_type(
        self, code: int, bounds: Bounds, interest: BoolArray | None = None
    ) -> tuple[Positions, np.ndarray[Any, Any]]:
        """The events of one type in a window: a slice of the sorted part (two binary
        searches) and the tail's positions (scanned). With `interest`, those of its leads
        only (`_of_interest`)."""
        events = self.events
        start, stop = bounds
        in_tail = events.tail_types.live == code
        tail_at = events.tail_at.live
        if start is not None:
            in_tail &= tail_at >= start
        if stop is not None:
            in_tail &= tail_at < stop
        low, high = events.type_slice(code)
        if start is not None:
            low += int(np.searchsorted(events.at[low:high], start, "left"))
        if stop is not None:
            high = low + int(np.searchsorted(events.at[low:high], stop, "left"))
        if interest is None:
            return slice(low, high), np.flatnonzero(in_tail)
        return self._narrowed(slice(low, high), np.flatnonzero(in_tail), interest)

    def _narrowed(
        self, window: slice, tail: Ints, interest: BoolArray
    ) -> tuple[np.ndarray[Any, Any], Ints]:
        """Of a window's events (`_in_type`'s), those of `interest`'s leads."""
        in_interest = interest[self.events.tail_lead_rows.live[tail]]
        return self._of_interest(window, interest), tail[in_interest]

    def _of_interest(self, window: slice, interest: BoolArray) -> np.ndarray[Any, Any]:
        """The window's positions of the interesting leads' events, ascending (in time order,
        as the window is): read through the events grouped by lead when those are far fewer
        than the window's (a gather from all over the table costs several times a sequential
        read: 60,000 leads' events took 36 ms where the window's pass takes a few), else by a
        pass over the window."""
        if self._by_lead(interest, window):
            positions = self._positions_of_interest(interest)
            low, high = np.searchsorted(positions, (window.start, window.stop), "left")
            return positions[low:high]
        events = self.events
        found: np.ndarray[Any, Any] = np.flatnonzero(interest[events.lead_rows[window]])
        found += window.start
        return found

    def _by_lead(self, interest: BoolArray, window: slice) -> bool:
        """Whether the interesting leads' events are read cheaper through the grouping by
        lead than by a pass over the window: when they are far fewer."""
        events = self._interest_of(interest).events
        return bool(events * SCATTERED_READ < window.stop - window.start)

    def _positions_of_interest(self, interest: BoolArray) -> np.ndarray[Any, Any]:
        """The sorted part's positions of the interesting leads' events, ascending: worked
        out once for the mask (every type of a distinct-events condition asks again)."""
        kept = self._interest_of(interest)
        if kept.positions is None:
            kept.positions = np.sort(self.events.positions_of(kept.rows))
        return kept.positions

    def _interest_of(self, interest: BoolArray) -> _Interest:
        kept = self._kept_interest
        if kept is None or kept.mask is not interest:
            rows = np.flatnonzero(interest)
            kept = self._kept_interest = _Interest(interest, rows, self.events.events_of(rows))
        return kept

    def _selected(
        self, event_type: str, bounds: Bounds, where: Node | None, interest: BoolArray | None
    ) -> tuple[Positions, np.ndarray[Any, Any]] | None:
        """The positions of the events of a type in a window that match `where` (of
        `interest`'s leads when given): the sorted part's (a slice when there is no `where`:
        read in place, not copied) and the tail's, numbered after the sorted part. None when
        no event has the type."""
        events = self.events
        code = events.type_code(event_type)
        if code is None:
            return None
        main, tail = self._in_type(code, bounds, interest)
        return self._filtered(event_type, where, main, len(events.at) + tail)

    def _filtered(
        self, event_type: str, where: Node | None, main: Positions, tail_positions: Ints
    ) -> tuple[Positions, Ints]:
        """The positions (the sorted part's, the tail's) of those events that match `where`."""
        if where is None:
            return main, tail_positions
        if isinstance(main, slice):
            main = np.arange(main.start, main.stop)[self._where(where, event_type, main)]
        else:
            main = main[self._where(where, event_type, main)]
        return main, tail_positions[self._where(where, event_type, tail_positions)]

    def _rows_at(self, main: Positions, tail_positions: Ints) -> tuple[Ints, Ints]:
        """The lead rows of events at positions (sorted part's, then the tail's)."""
        events = self.events
        tail = tail_positions - len(events.at)
        return events.lead_rows[main], events.tail_lead_rows.live[tail]

    def _matching(
        self, node: EventCondition, interest: BoolArray | None = None
    ) -> tuple[Ints, Ints, Ints]:
        """The lead rows, instants and positions (the sorted part's, then the tail's after
        them) of the events an event condition counts (of `interest`'s leads when given)."""
        bounds = self._bounds(node.within_days, node.older_than_days)
        selected = self._selected(node.type, bounds, node.where, interest)
        if selected is None:
            return _NONE, _NONE, _NONE
        main, tail_positions = selected
        events = self.events
        main_rows, tail_rows = self._rows_at(main, tail_positions)
        tail_at = events.tail_at.live[tail_positions - len(events.at)]
        main_positions = np.arange(main.start, main.stop) if isinstance(main, slice) else main
        return (
            np.concatenate([main_rows, tail_rows], dtype=np.int64),
            np.concatenate([events.at[main], tail_at]),
            np.concatenate([main_positions, tail_positions]),
        )

    def _aggregate(
        self, node: Aggregate, event_type: str, rows: Ints, positions: Ints
    ) -> BoolArray:
        """fn over the JSON numbers at the path of each lead's matching events, then its test;
        a lead with no number has null, which only `neq` matches."""
        size = len(self.leads)
        if self.events.type_code(event_type) is None:  # every lead's aggregate is null
            return np.full(size, node.op == "neq")
        column, per_value = self._numbers(event_type, node.path)
        numbers = per_value[column.codes.live[positions]] if len(per_value) else per_value[:0]
        known = ~np.isnan(numbers)
        rows, numbers = rows[known], numbers[known]
        present = np.bincount(rows, minlength=size)[:size]
        if node.fn in ("sum", "avg"):
            totals = np.bincount(rows, weights=numbers, minlength=size)[:size]
            values = totals if node.fn == "sum" else totals / np.maximum(present, 1)
        else:
            values = np.full(size, np.inf if node.fn == "min" else -np.inf)
            (np.minimum if node.fn == "min" else np.maximum).at(values, rows, numbers)
        return _aggregate_test(node, values, present > 0)

    def _numbers(self, event_type: str, path: str) -> tuple[DictionaryColumn, np.ndarray[Any, Any]]:
        """The column of the events' values at a metadata path, and each distinct value as a
        number (NaN: not a JSON number)."""
        spec = resolve_event_field(path)
        column = self.events.paths.get((self._code(event_type), spec.path))
        if column is None:
            column = self.load.event_path(event_type, spec.path)
        per_value = np.array([_json_number(v) for v in column.values], np.float64)
        return column, per_value

    def _summed(self, node: EventCondition, interest: BoolArray | None) -> BoolArray | None:
        """A sum or average over the window, from totals and counts of numbers kept and moved
        with it (AnswerCache.window_totals), the tail's added anew: when every value at the
        path is a whole number (a sum of floats taken apart and put together again would
        not be exactly a sum taken anew) and not so many leads are asked about that reading
        theirs by lead is cheaper. None where it does not apply: _aggregate answers."""
        aggregate, events, size = node.aggregate, self.events, len(self.leads)
        code = events.type_code(node.type)
        if aggregate is None or aggregate.fn not in ("sum", "avg") or code is None:
            return None
        column, per_value = self._numbers(node.type, aggregate.path)
        known = per_value[~np.isnan(per_value)]
        if not len(per_value) or not np.all((known == np.round(known)) & (abs(known) < WHOLE)):
            return None
        bounds = self._bounds(node.within_days, node.older_than_days)
        main, tail = self._in_type(code, bounds)
        assert isinstance(main, slice)  # no interest given: the window's slice
        if (interest is not None and self._by_lead(interest, main)) or _moves_with_time(node.where):
            return None
        codes = column.codes.live

        def tallies(rows: Ints, positions: Positions) -> tuple[Ints, Ints]:
            """The sum and the count of the numbers of events (lead rows, positions)."""
            numbers = per_value[codes[positions]]
            known = ~np.isnan(numbers)
            rows = rows[known]
            totals = np.bincount(rows, weights=numbers[known], minlength=size).astype(np.int64)
            return totals, np.bincount(rows, minlength=size)

        tallied: dict[tuple[int, int], tuple[Ints, Ints]] = {}  # each part read once for both

        def in_part(part: slice) -> tuple[Ints, Ints]:
            if (part.start, part.stop) not in tallied:
                positions = self._filtered(node.type, node.where, part, _NONE)[0]
                tallied[part.start, part.stop] = tallies(events.lead_rows[positions], positions)
            return tallied[part.start, part.stop]

        key = (code, node.within_days, node.older_than_days, repr(node.where), aggregate.path)
        totals = self.answers.window_totals(
            events, ("sum", *key), main, size, lambda part: in_part(part)[0]
        )
        present = self.answers.window_totals(
            events, ("numbers", *key), main, size, lambda part: in_part(part)[1]
        )
        in_tail = self._filtered(node.type, node.where, slice(0, 0), len(events.at) + tail)[1]
        if len(in_tail):
            tail_totals, tail_present = tallies(self._rows_at(_NONE, in_tail)[1], in_tail)
            totals, present = totals + tail_totals[:size], present + tail_present[:size]
        values = totals if aggregate.fn == "sum" else totals / np.maximum(present, 1)
        return _aggregate_test(aggregate, values, present > 0)

    def _kept_days(self, node: EventCondition, interest: BoolArray | None) -> Ints | None:
        """Each lead's distinct local days with events in the window, from the whole days
        inside it (their per-lead count kept and moved a day at a time: window_totals) and
        the two part days at its ends, read anew. Leads with events in the tail are counted
        anew (a tail event may fall on a day the lead already has). None where it does not
        apply (a window of a day or less, few leads asked about, a `where` moving with now):
        _distinct_days answers."""
        events, size, zone = self.events, len(self.leads), self.time.zone
        code = events.type_code(node.type)
        start, stop = bounds = self._bounds(node.within_days, node.older_than_days)
        if code is None or start is None or stop is None or _moves_with_time(node.where):
            return None
        main, tail = self._in_type(code, bounds)
        assert isinstance(main, slice)  # no interest given: the window's slice
        if interest is not None and self._by_lead(interest, main):
            return None
        midnights = _midnights_within(start, stop, zone)
        if len(midnights) < 2:
            return None
        low, high = events.type_slice(code)
        first, last = low + np.searchsorted(events.at[low:high], midnights[[0, -1]], "left")
        whole_days = slice(int(first), int(last))

        def events_in(part: slice) -> tuple[Ints, Ints]:
            positions = self._filtered(node.type, node.where, part, _NONE)[0]
            return events.lead_rows[positions], events.at[positions]

        key = ("days", code, node.within_days, node.older_than_days, repr(node.where))
        days = self.answers.window_totals(
            events, key, whole_days, size, lambda part: self._distinct_days(*events_in(part))
        )
        for part_day in (slice(main.start, whole_days.start), slice(whole_days.stop, main.stop)):
            has = np.zeros(size, bool)
            has[events_in(part_day)[0]] = True
            days = days + has
        in_tail = self._filtered(node.type, node.where, slice(0, 0), len(events.at) + tail)[1]
        if len(in_tail):  # those leads' days counted anew from all their events in the window
            touched = _of_rows(self._rows_at(_NONE, in_tail)[1], size)
            rows, at, _ = self._matching(node, touched)
            days = np.where(touched, self._distinct_days(rows, at), days)
        return days

    def _distinct_days(
        self, rows: np.ndarray[Any, Any], at: np.ndarray[Any, Any]
    ) -> np.ndarray[Any, Any]:
        """Each lead's number of distinct local days among the events (rows, instants): a day
        is the number of local midnights up to the instant, so zones with DST stay exact."""
        size = len(self.leads)
        if not len(at):
            return np.zeros(size, np.int64)
        zone = self.time.zone
        first = local_date(micros_to_datetime(int(at.min())), zone)
        last = local_date(micros_to_datetime(int(at.max())), zone)
        days = [first + timedelta(days=n) for n in range((last - first).days + 2)]
        midnights = np.array([micros(day_start(day, zone)) for day in days], np.int64)
        day = np.searchsorted(midnights, at, "right")
        return _days_per_row(rows, day, len(midnights) + 1, size)

    def _distinct_events(
        self, node: DistinctEvents, interest: BoolArray | None = None
    ) -> BoolArray:
        """Leads with events of at least N distinct types: per type, whether each lead has
        one in the window, summed (right at least where `interest` is set)."""
        events = self.events
        size = len(self.leads)
        names = node.types if node.types is not None else tuple(events.type_codes)
        bounds = self._bounds(node.within_days, None)
        kinds = np.zeros(size, np.int64)
        for name in names:
            code = events.type_code(name)
            if code is None:
                continue
            main, tail = self._in_type(code, bounds)
            assert isinstance(main, slice)  # no interest given: the window's slice
            has = np.zeros(size + 1, bool)
            if interest is not None and self._by_lead(interest, main):
                main, tail = self._in_type(code, bounds, interest)
                has[events.lead_rows[main]] = True
            else:  # the window's counts of the type, kept and moved (as _event_counts does)
                key = ("count", code, node.within_days, None, repr(None))
                counts = self.answers.window_counts(
                    events, key, main, size, events.lead_rows.__getitem__
                )
                has[:size] = counts > 0
            has[events.tail_lead_rows.live[tail]] = True
            kinds += has[:size]
        answer: BoolArray = kinds >= node.count
        return answer

    def _event_counts(
        self, node: EventCondition, interest: BoolArray | None = None
    ) -> np.ndarray[Any, Any]:
        """Each lead's number of events of the node's type (in its window, matching its where).
        The sorted part holds each type's events together, by time: a type is a slice and a
        window two binary searches in it; the tail is scanned whole."""
        size = len(self.leads)
        events = self.events
        code = events.type_code(node.type)
        if code is None:
            return np.zeros(size, np.int64)
        if node.within_days is None and node.older_than_days is None and node.where is None:
            return self.answers.type_counts(events, code, size)
        bounds = self._bounds(node.within_days, node.older_than_days)
        main, tail = self._in_type(code, bounds)
        assert isinstance(main, slice)  # no interest given: the window's slice
        if (interest is not None and self._by_lead(interest, main)) or _moves_with_time(node.where):
            positions: tuple[Positions, Ints] = (main, tail)
            if interest is not None:
                positions = self._narrowed(main, tail, interest)
            found = self._filtered(
                node.type, node.where, positions[0], len(events.at) + positions[1]
            )
            main_rows, tail_rows = self._rows_at(*found)  # counted apart: no copy of the two
            counted = np.bincount(main_rows, minlength=size)[:size]
        else:
            # Every lead, or so many that their events are a pass over the window: the sorted
            # part's window is counted by moving the counts kept from the last ask
            # (AnswerCache.window_counts), the tail anew.
            counted = self.answers.window_counts(
                events,
                ("count", code, node.within_days, node.older_than_days, repr(node.where)),
                main,
                size,
                lambda part: self._rows_at(*self._filtered(node.type, node.where, part, _NONE))[0],
            )
            in_tail: tuple[Positions, Ints] = (slice(0, 0), len(events.at) + tail)
            _, tail_rows = self._rows_at(*self._filtered(node.type, node.where, *in_tail))
        if len(tail_rows):  # a new array: the kept counts are read-only
            counted = counted + np.bincount(tail_rows, minlength=size)[:size]
        return counted

    def _sequence(self, node: EventSequence, interest: BoolArray | None = None) -> BoolArray:
        """Leads with the steps' events at strictly increasing times, by the greedy choice of
        filters/evaluate.py (the earliest next event after the previous one), for all leads at
        once; right at least where `interest` is set (_interest): only those leads' chains are
        followed."""
        if interest is not None:
            return self._followed(node, interest)
        steps = (*node.steps, *((node.not_between,) if node.not_between else ()))
        found = (self.events.type_code(step.type) for step in steps)
        codes = {code for code in found if code is not None}
        if node.since_days is not None:
            return self._kept_starts(node, codes)
        # now plays no part: the whole answer is kept
        return self.answers.lasting(
            self.events,
            ("sequence", repr(node)),
            codes,
            len(self.leads),
            lambda rows: self._followed(node, rows),
        )

    def _kept_starts(self, node: EventSequence, codes: set[int]) -> BoolArray:
        """A sequence whose starts must fall within `since_days`: whether a chain completes
        from a start depends on the events alone, not on now, so it is kept for each start
        of the sorted part in the window (AnswerCache.window_flags) and worked out only for
        the starts that came into the window since; a lead matches when one of its starts in
        the window does. Leads with events of the sequence's types in the tail are followed
        anew (their chains may have changed, and their tail starts are not kept)."""
        events, size, first = self.events, len(self.leads), node.steps[0]
        code = events.type_code(first.type)
        if code is None:
            return np.zeros(size, bool)
        main, _ = self._in_type(code, self._since_bounds(node))
        assert isinstance(main, slice)  # no interest given: the window's slice

        def flags_of(part: slice) -> BoolArray:
            """Whether a chain completes from each position of `part` (False where the first
            step's where is not met)."""
            positions = np.arange(part.start, part.stop)
            keep = np.ones(len(positions), bool)
            if first.where is not None:
                keep = self._where(first.where, first.type, part)
            rows = events.lead_rows[positions[keep]].astype(np.int64)
            flags = np.zeros(len(positions), bool)
            flags[keep] = self._chains(node, rows, events.at[positions[keep]], None)
            return flags

        flags = self.answers.window_flags(events, ("starts", repr(node)), main, size, flags_of)
        answer = np.zeros(size, bool)
        answer[events.lead_rows[main][flags]] = True
        tail_types = events.tail_types.live
        in_tail = np.isin(tail_types, list(codes))
        if in_tail.any():
            touched = _of_rows(events.tail_lead_rows.live[in_tail], size)
            answer = np.where(touched, self._followed(node, touched), answer)
        return answer

    def _followed(self, node: EventSequence, interest: BoolArray | None) -> BoolArray:
        if node.within_days is None and node.not_between is None:
            return self._chain_per_lead(node, interest)
        rows, at = self._starts(node, interest)
        return self._chain_per_start(node, rows, at, interest)

    def _starts(
        self, node: EventSequence, interest: BoolArray | None = None
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(lead row, time) of each first-step event, within `since_days` when it is set."""
        return self._step_events(node.steps[0], self._since_bounds(node), interest)

    def _since_bounds(self, node: EventSequence) -> Bounds:
        """Where a sequence's starts may fall: the last `since_days`, or any time."""
        if node.since_days is None:
            return None, None
        since = micros(self.time.now - timedelta(days=node.since_days))
        return since, micros(self.time.now) + 1

    def _first_ends(self, node: EventSequence) -> np.ndarray[Any, Any]:
        """Each lead row's earliest first-step event (NO_TIME for none). With no window and no
        `where` ("page view, then ..., ever") it is kept per type between answers: a scatter-min
        over every page view took half of such a sequence's time."""
        first = node.steps[0]
        code = self.events.type_code(first.type)
        if node.since_days is None and first.where is None and code is not None:
            return self.answers.first_times(self.events, code, len(self.leads))
        rows, at = self._starts(node)
        ended = np.full(len(self.leads), NO_TIME, np.int64)
        np.minimum.at(ended, rows, at)
        return ended

    def _chain_per_lead(self, node: EventSequence, interest: BoolArray | None) -> BoolArray:
        """No within_days: one start per lead (its earliest first event), so the chain's end
        so far is one number per lead, and each step is a gather and a scatter-min."""
        ended = self._first_ends(node)
        for step in node.steps[1:]:
            step_rows, step_at = self._step_events(step, interest=interest)
            later = step_at > ended[step_rows]  # a lead with no chain has NO_TIME: never later
            ended = np.full(len(self.leads), NO_TIME, np.int64)  # new: `ended` may be kept
            np.minimum.at(ended, step_rows[later], step_at[later])
        result: BoolArray = ended != NO_TIME
        return result

    def _chain_per_start(
        self,
        node: EventSequence,
        rows: np.ndarray[Any, Any],
        at: np.ndarray[Any, Any],
        interest: BoolArray | None = None,
    ) -> BoolArray:
        """With within_days or not_between every first event is a start, carried through the
        steps by binary searches (_next_after), and kept while the chain fits the window and,
        at the end, while its span holds no excluded event. Only the events that could extend
        a chain are searched: those of leads still in one, after the earliest chain's end so
        far and, with a window, before the latest start's limit."""
        result = np.zeros(len(self.leads), bool)
        result[rows[self._chains(node, rows, at, interest)]] = True
        return result

    def _chains(
        self,
        node: EventSequence,
        rows: np.ndarray[Any, Any],
        at: np.ndarray[Any, Any],
        interest: BoolArray | None,
    ) -> BoolArray:
        """Whether a chain completes from each start (lead row, time): each start's answer
        reads that lead's events after it only, whatever the other starts."""
        starts = len(rows)
        complete = np.arange(starts)  # which starts are still in a chain
        started = at
        limit = None if node.within_days is None else node.within_days * MICROS_PER_DAY
        for step in node.steps[1:]:
            if not len(rows):
                break
            last = None if limit is None else int(started.max()) + limit + 1
            step_rows, step_at = self._step_events(step, (int(at.min()) + 1, last), interest)
            kept = _of_rows(rows, len(self.leads))[step_rows]
            found, at = _next_after(rows, at, step_rows[kept], step_at[kept])
            if limit is not None:
                found &= at - started <= limit
            rows, started, at = rows[found], started[found], at[found]
            complete = complete[found]
        if node.not_between is not None and len(rows):
            span = (int(started.min()) + 1, int(at.max()))
            excluded_rows, excluded_at = self._step_events(node.not_between, span, interest)
            kept = _of_rows(rows, len(self.leads))[excluded_rows]
            # The first excluded event after the start: the span is clean iff it is not before
            # the chain's end (or there is none).
            found, first_after = _next_after(rows, started, excluded_rows[kept], excluded_at[kept])
            complete = complete[~(found & (first_after < at))]
        ok = np.zeros(starts, bool)
        ok[complete] = True
        return ok

    def _step_events(
        self,
        step: SequenceStep,
        bounds: Bounds = (None, None),
        interest: BoolArray | None = None,
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(lead row, time) of each event of the step's type within `bounds` ([from, before)
        microseconds) that matches its where: the sorted part's, then the tail's."""
        selected = self._selected(step.type, bounds, step.where, interest)
        if selected is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        main, tail_positions = selected
        events = self.events
        main_rows, tail_rows = self._rows_at(main, tail_positions)
        tail_at = events.tail_at.live[tail_positions - len(events.at)]
        rows = np.concatenate([main_rows, tail_rows], dtype=np.int64)
        return rows, np.concatenate([events.at[main], tail_at], dtype=np.int64)

    def _where(self, node: Node, event_type: str, positions: Positions) -> BoolArray:
        """One answer per event at `positions` (the sorted part's window: a slice, read in
        place; the tail's: an array)."""
        match node:
            case And(children):
                result = np.ones(_count(positions), bool)
                for child in children:
                    result &= self._where(child, event_type, positions)
                return result
            case Or(children):
                result = np.zeros(_count(positions), bool)
                for child in children:
                    result |= self._where(child, event_type, positions)
                return result
            case Not(child):
                return ~self._where(child, event_type, positions)
            case Condition():
                spec = resolve_event_field(node.field)
                column = self.events.paths.get((self._code(event_type), spec.path))
                if column is None:
                    column = self.load.event_path(event_type, spec.path)
                return column.gather(self._per_value(column, node, spec), positions)
            case (
                EventCondition()
                | DistinctEvents()
                | EventSequence()
                | SegmentRef()
                | SegmentTenure()
                | ListRef()
                | ManualRef()
                | LeadsCondition()
                | AccountSegmentRef()
                | Bucket()
            ):
                raise InvalidInput("an event's where holds conditions on its metadata only")
            case _:
                assert_never(node)

    def _code(self, event_type: str) -> int:
        code = self.events.type_code(event_type)
        assert code is not None
        return code


def _midnights_within(start: int, stop: int, zone: ZoneInfo) -> np.ndarray[Any, Any]:
    """The local midnights in (start, stop), as microseconds: where whole days begin."""
    day = local_date(micros_to_datetime(start), zone) + timedelta(days=1)
    found = []
    while (midnight := micros(day_start(day, zone))) < stop:
        if midnight > start:
            found.append(midnight)
        day += timedelta(days=1)
    return np.asarray(found, np.int64)


def _aggregate_test(node: Aggregate, values: np.ndarray[Any, Any], has: BoolArray) -> BoolArray:
    """An aggregate's test of each lead's value; a lead with no number (not `has`) has null,
    which only `neq` matches."""
    wanted = node.value
    if isinstance(wanted, tuple):
        between: BoolArray = has & (values >= wanted[0]) & (values <= wanted[1])
        return between
    tests: dict[str, Callable[[Any, Any], Any]] = {
        "eq": np.equal,
        "neq": np.not_equal,
        "gt": np.greater,
        "gte": np.greater_equal,
        "lt": np.less,
        "lte": np.less_equal,
    }
    answer: BoolArray = has & tests[node.op](values, wanted)
    return answer | ~has if node.op == "neq" else answer


WHOLE: Final = 2**31  # whole numbers below this sum exactly as integers and as floats


@dataclass
class _Interest:
    """The lead rows an answer will be read at (Walk._interest), and their events."""

    mask: BoolArray
    rows: np.ndarray[Any, Any]
    events: int  # how many the sorted part holds
    positions: np.ndarray[Any, Any] | None = None  # where, ascending (when asked)


MICROS_PER_DAY = 86_400_000_000
SCATTERED_READ = 8  # a position gathered by lead costs about this many read in a pass


def _moves_with_time(where: Node | None) -> bool:
    """Whether an event's `where` holds a condition whose answer moves with now (a metadata
    date in the last N days): counts by it cannot be kept between asks."""
    match where:
        case None:
            return False
        case And(children) | Or(children):
            return any(_moves_with_time(child) for child in children)
        case Not(child):
            return _moves_with_time(child)
        case Condition():
            return OPERATORS[where.op].time_relative
        case _:
            return True


def _of_rows(rows: np.ndarray[Any, Any], size: int) -> BoolArray:
    """A mask of `size` lead rows, set at `rows`."""
    mask = np.zeros(size, bool)
    mask[rows] = True
    return mask


def _days_per_row(
    rows: np.ndarray[Any, Any], day: np.ndarray[Any, Any], days: int, size: int
) -> np.ndarray[Any, Any]:
    """How many distinct days (0 to `days` - 1) each of `size` rows has among its events, with
    no sort of the events: the events come in time order (a type's slice of the sorted part),
    but for a short unsorted suffix (the tail), so each day's events are a run; `count[rows]
    += 1` adds one per distinct row of a run (numpy's buffered fancy add counts a repeated
    index once). Sorting (row, day) pairs took 70-180 ms for the 2.4M page views of 30 days on
    a machine whose sorts are slow, against 20 for this."""
    drops = np.flatnonzero(day[1:] < day[:-1])
    cut = len(day) if not len(drops) else int(drops[0]) + 1
    order = np.argsort(day[cut:], kind="stable")
    runs = (rows[:cut], day[:cut]), (rows[cut:][order], day[cut:][order])
    bounds = [np.searchsorted(days_of, np.arange(days + 1), "left") for _, days_of in runs]
    count = np.zeros(size, np.int32)
    for d in range(days):
        (head, _), (tail, _) = runs
        on_day = head[bounds[0][d] : bounds[0][d + 1]]
        later = tail[bounds[1][d] : bounds[1][d + 1]]
        if len(later):
            on_day = np.concatenate((on_day, later))
        count[on_day] += 1
    return count


def _next_after(
    rows: np.ndarray[Any, Any],
    at: np.ndarray[Any, Any],
    event_rows: np.ndarray[Any, Any],
    event_at: np.ndarray[Any, Any],
) -> tuple[BoolArray, np.ndarray[Any, Any]]:
    """For each (row, time): whether the row has an event strictly later, and the earliest such
    time.

    The events are put in time order (they nearly are: a type's slice of the sorted part, then
    the tail), and each is keyed by (row, its place in that order) packed in one int64, so the
    keys sort by row then time. A query (row, time) becomes (row, how many events are at or
    before that time), and the first key at or after it, if it has the same row, is the row's
    earliest event strictly later. The queries are searched in sorted order: numpy's binary
    search is several times faster over ascending queries than over random ones."""
    if not len(event_rows):
        return np.zeros(len(rows), bool), at
    order = np.argsort(event_at, kind="stable")
    times = event_at[order]
    width = np.int64(len(times) + 1)
    keys = np.sort(event_rows[order] * width + np.arange(len(times)))
    query = rows * width + np.searchsorted(times, at, "right")
    ascending = np.argsort(query)
    spot = np.empty(len(query), np.int64)
    spot[ascending] = np.searchsorted(keys, query[ascending])
    found = spot < len(keys)
    hit = keys[np.minimum(spot, len(keys) - 1)]
    found &= hit // width == rows
    return found, np.where(found, times[hit % width], at)


def _count(positions: Positions) -> int:
    if isinstance(positions, slice):
        return int(positions.stop - positions.start)
    return len(positions)
