"""A filter tree over the index: one boolean per lead row, by the registry's vector forms.

The walk mirrors filters/evaluate.py node for node (the parity test holds the two together);
what differs is only that each answer is for every lead at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, assert_never

import numpy as np

from segmint.errors import InvalidInput
from segmint.filters.fields import (
    FieldSpec,
    Storage,
    Table,
    resolve_event_field,
    resolve_field,
)
from segmint.filters.operators import OPERATORS
from segmint.filters.parse import referenced_tree
from segmint.filters.source import SegmentSource
from segmint.filters.timing import TimeContext
from segmint.filters.tree import (
    And,
    Bucket,
    Condition,
    EventCondition,
    ListRef,
    ManualRef,
    Node,
    Not,
    Or,
    SegmentRef,
    SegmentTenure,
)
from segmint.index.answers import AnswerCache
from segmint.index.columns import DenseColumn, DictionaryColumn
from segmint.index.tables import AccountTable, EventTable, LeadTable, Memberships, Path
from segmint.index.vectors import BoolArray, micros
from segmint.projects import Project

Rows = np.ndarray[Any, Any] | None  # lead rows to answer for; None: all of them
Positions = np.ndarray[Any, Any] | slice  # events to answer for
FEW_LEFT = 16  # an AND reads only its candidate rows once fewer than 1 in 16 are left


class NotIndexed(Exception):
    """A filter the index does not answer (yet): SQL answers it instead, and the index is fine.

    Time in segment reads the maintained membership of another segment (`segment_members` and
    when each membership began), which the index does not hold or follow."""


@dataclass(frozen=True)
class Loaders:
    """What the walk asks for the first time a filter names it (read in the walk's snapshot)."""

    lead_path: Callable[[str, Path], DictionaryColumn]
    account_path: Callable[[Path], DictionaryColumn]
    event_path: Callable[[str, Path], DictionaryColumn]
    members: Callable[[tuple[str, int]], None]


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
                return self._sized(self._picked(self._event(node), rows), rows)
            case SegmentRef():
                return self._segment(node, rows)
            case SegmentTenure():
                raise NotIndexed("time in segment is answered by SQL")
            case ListRef(list_id):
                return self._picked(self.members(("list", list_id)), rows)
            case ManualRef(segment_id, kind):
                return self._picked(self.members((kind, segment_id)), rows)
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
        return answer if rows is None else answer[rows]

    def members(self, key: tuple[str, int]) -> BoolArray:
        if not self.memberships.has(key):
            self.load.members(key)
        return self.memberships.mask(key, self.leads)

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

    def _segment(self, node: SegmentRef, rows: Rows) -> BoolArray:
        tree = referenced_tree(node.segment_id, self.segments, self.inlining, self.project)
        self.inlining = (*self.inlining, node.segment_id)
        try:
            return self.mask(tree, rows)
        finally:
            self.inlining = self.inlining[:-1]

    # -- events ----------------------------------------------------------------------------

    def _event(self, node: EventCondition) -> BoolArray:
        counts = self._event_counts(node)
        within = counts >= node.min_count
        if node.max_count is not None:
            within &= counts <= node.max_count
        return within if node.performed else ~within

    def _event_counts(self, node: EventCondition) -> np.ndarray[Any, Any]:
        """Each lead's number of events of the node's type (in its window, matching its where).
        The sorted part holds each type's events together, by time: a type is a slice and a
        window two binary searches in it; the tail is scanned whole."""
        size = len(self.leads)
        events = self.events
        code = events.type_code(node.type)
        if code is None:
            return np.zeros(size, np.int64)
        if node.within_days is None and node.where is None:
            return self.answers.type_counts(events, code, size)
        low, high = events.type_slice(code)
        window = None
        if node.within_days is not None:
            window = (
                micros(self.time.now - timedelta(days=node.within_days)),
                micros(self.time.now),
            )
            at = events.at[low:high]
            low, high = (
                low + int(np.searchsorted(at, window[0], "left")),
                low + int(np.searchsorted(at, window[1], "right")),
            )
        in_tail = events.tail_types.live == code
        if window is not None:
            tail_at = events.tail_at.live
            in_tail &= (tail_at >= window[0]) & (tail_at <= window[1])
        tail = np.flatnonzero(in_tail)
        main_rows = events.lead_rows[low:high]
        tail_rows = events.tail_lead_rows.live[tail]
        if node.where is not None:  # positions: the sorted part's, then the tail's after them
            main_rows = main_rows[self._where(node.where, node.type, slice(low, high))]
            tail_rows = tail_rows[self._where(node.where, node.type, len(events.at) + tail)]
        counted: np.ndarray[Any, Any] = np.bincount(main_rows, minlength=size)
        if len(tail_rows):
            counted = counted + np.bincount(tail_rows, minlength=size)
        return counted[:size]

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
                | SegmentRef()
                | SegmentTenure()
                | ListRef()
                | ManualRef()
                | Bucket()
            ):
                raise InvalidInput("an event's where holds conditions on its metadata only")
            case _:
                assert_never(node)

    def _code(self, event_type: str) -> int:
        code = self.events.type_code(event_type)
        assert code is not None
        return code


def _count(positions: Positions) -> int:
    if isinstance(positions, slice):
        return int(positions.stop - positions.start)
    return len(positions)
