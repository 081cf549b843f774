"""The index's in-memory tables of one project: leads, accounts, events and memberships.

They take rows as the database gives them (mappings of column values) and know nothing of
where they came from: loading.py reads the database, evaluate.py reads these tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

import numpy as np

from segmint.filters.evaluate import walk
from segmint.filters.fields import ACCOUNT_COLUMNS
from segmint.filters.operators import View
from segmint.index.columns import Column, DenseColumn, DictionaryColumn, Growing
from segmint.index.vectors import BoolArray, micros
from segmint.model import LEAD_COLUMNS, FieldKind
from segmint.store.db import json_loads

Path = tuple[str, ...]
# A path's values: the distinct JSON texts, the ids holding a value and, for each id, which.
PathValues = tuple[Sequence[str], np.ndarray[Any, Any], np.ndarray[Any, Any]]
K = TypeVar("K")
NO_ROW: Final = -1
# A lead row's entered_at when it is not a member: later than any instant, so it is never
# "entered at least / within D days before now".
NOT_A_MEMBER: Final = np.iinfo(np.int64).max


def _column_for(kind: FieldKind) -> Column:
    if kind is FieldKind.NUMBER:
        return DenseColumn(View.NUMBER)
    if kind is FieldKind.DATETIME:
        return DenseColumn(View.INSTANT)
    return DictionaryColumn(mixed=kind is FieldKind.TAGS)  # text columns hold str or None


def _by_table(held: np.ndarray[Any, Any], ids: Any) -> np.ndarray[Any, Any] | None:
    """The position in `held` (distinct ids) of each of `ids`, NO_ROW where absent, through a
    table indexed by id; None when the ids held are too sparse for one. Ten million binary
    searches in a million ids miss the cache at every step and took seconds of a build; one
    gather each does not."""
    if not len(held):
        return None
    low, span = int(held.min()), int(held.max()) - int(held.min()) + 1
    if span > 4 * len(held):
        return None
    table = np.full(span, NO_ROW, np.int64)
    table[held - low] = np.arange(len(held), dtype=np.int64)
    at = np.asarray(ids, np.int64) - low
    inside = (at >= 0) & (at < span)
    rows: np.ndarray[Any, Any] = np.full(len(at), NO_ROW, np.int64)
    rows[inside] = table[at[inside]]
    return rows


class IdMap:
    """Stored ids to row numbers, by binary search. While ids ascend with their rows (a build
    reads leads in id order, and later ids are larger) the ids by row are the search's sorted
    array; once one arrives out of order, the rows in id order (int32) are kept beside them."""

    def __init__(self) -> None:
        self.ids = Growing(np.int64)
        self._order: np.ndarray[Any, Any] | None = None  # None: ids ascend with rows

    def __len__(self) -> int:
        return len(self.ids)

    def append(self, new_ids: Sequence[int]) -> None:
        ids = np.asarray(new_ids, np.int64)
        held = self.ids.live
        first_row = len(held)
        if self._order is None and len(ids):
            after = not first_row or ids[0] > held[-1]
            if not (after and bool(np.all(ids[1:] > ids[:-1]))):
                self._order = np.arange(first_row, dtype=np.int32)
        if self._order is not None:
            order = np.argsort(ids, kind="stable")
            at = np.searchsorted(held, ids[order], sorter=self._order)
            self._order = np.insert(self._order, at, (first_row + order).astype(np.int32))
        self.ids.extend(ids)

    def rows_of(self, ids: Any) -> np.ndarray[Any, Any]:
        """The row of each id, NO_ROW for an id not held."""
        ids = np.asarray(ids, np.int64)
        if len(ids) > len(self) > 0:  # a bulk lookup (a build's events)
            found = _by_table(self.ids.live, ids)
            if found is not None:
                return found
        held = self.ids.live
        if not len(held):
            return np.full(len(ids), NO_ROW, np.int64)
        at = np.minimum(np.searchsorted(held, ids, sorter=self._order), len(held) - 1)
        rows = at if self._order is None else self._order[at].astype(np.int64)
        return np.where(held[rows] == ids, rows, NO_ROW)

    def row_of(self, stored_id: int) -> int:
        return int(self.rows_of([stored_id])[0])

    def trim(self) -> None:
        self.ids.trim()

    def nbytes(self) -> int:
        return self.ids.nbytes() + (0 if self._order is None else self._order.nbytes)


class AccountTable:
    """Accounts by row; row 0 stands for "no account" (every value null), so a lead without
    one reads its account fields as the Python evaluator does: as None."""

    def __init__(self) -> None:
        self.ids = IdMap()
        self.columns: dict[str, DictionaryColumn] = {c: DictionaryColumn() for c in ACCOUNT_COLUMNS}
        self.paths: dict[Path, DictionaryColumn] = {}
        self.ids.append([0])  # account ids start at 1: 0 is the "no account" row
        self.alive = Growing(np.bool_, False)  # an account segment's answers: held accounts only
        self.alive.extend([False])
        for column in self.columns.values():
            column.append([None])

    def apply(self, rows: Sequence[Mapping[str, Any]]) -> None:
        known = self.ids.rows_of([row["id"] for row in rows])
        updates = [(int(at), row) for at, row in zip(known, rows, strict=True) if at != NO_ROW]
        added = [row for at, row in zip(known, rows, strict=True) if at == NO_ROW]
        if added:
            self.ids.append([row["id"] for row in added])
            self.alive.extend([True] * len(added))
            for name, column in self.columns.items():
                column.append([row[name] for row in added])
            for path, column in self.paths.items():
                column.append([walk(row["metadata"], path) for row in added])
        if updates:
            at = [row for row, _ in updates]
            self.alive.live[at] = True
            for name, column in self.columns.items():
                column.assign(at, (row[name] for _, row in updates))
            for path, column in self.paths.items():
                column.assign(at, (walk(row["metadata"], path) for _, row in updates))

    def remove(self, account_ids: Iterable[int]) -> None:
        """Deleted accounts read as "no account" (their leads were re-pointed by the database)."""
        rows = [int(r) for r in self.ids.rows_of(list(account_ids)) if r != NO_ROW]
        self.alive.live[rows] = False
        for column in [*self.columns.values(), *self.paths.values()]:
            column.assign(rows, [None] * len(rows))

    def add_path(self, path: Path, values: PathValues) -> DictionaryColumn:
        """The accounts' values at `path` (those not named have none)."""
        texts, ids, which = values
        rows = self.ids.rows_of(ids)
        column = self.paths[path] = _path_column(rows, len(self.ids), texts, which)
        return column

    def nbytes(self) -> int:
        columns = [*self.columns.values(), *self.paths.values()]
        return self.ids.nbytes() + self.alive.nbytes() + sum(c.nbytes() for c in columns)


class LeadTable:
    """One row per lead ever held; `alive` is False once the lead is deleted."""

    def __init__(self, accounts: AccountTable) -> None:
        self.ids = IdMap()
        self.alive = Growing(np.bool_, False)
        self.accounts = accounts
        self.account_rows = Growing(np.int32)
        self.columns: dict[str, Column] = {
            name: _column_for(kind) for name, kind in LEAD_COLUMNS.items()
        }
        self.columns["name"] = DictionaryColumn(mixed=False)
        self.columns["enrichment_status"] = DictionaryColumn(mixed=False)
        self.paths: dict[tuple[str, Path], DictionaryColumn] = {}  # custom / enrichment paths
        self.version = 0  # bumped on every change: cached orders are recomputed after one

    def __len__(self) -> int:
        return len(self.ids)

    def _account_rows(self, account_ids: Sequence[int | None]) -> np.ndarray[Any, Any]:
        found = self.accounts.ids.rows_of([account_id or 0 for account_id in account_ids])
        return np.where(found == NO_ROW, 0, found)

    def apply(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Leads given as rows (column values as the store types them, JSON parsed, a column
        left out read as null): as `apply_columns` takes them, derived fields derived here."""
        if not rows:
            return
        names = ("id", "account_id", *LEAD_COLUMNS)
        columns = {name: [row.get(name) for row in rows] for name in names}
        columns["name"] = [f"{r.get('first_name') or ''} {r.get('last_name') or ''}" for r in rows]
        columns["enrichment_status"] = [
            row["enrichment_status"]
            if "enrichment_status" in row
            else _enrichment_status(row.get("enrichment"))
            for row in rows
        ]
        paths = {
            (json_column, path): [_json_text(walk(row.get(json_column), path)) for row in rows]
            for json_column, path in self.paths
        }
        self.apply_columns(columns, (), paths)

    def apply_columns(
        self,
        columns: Mapping[str, Sequence[Any]],
        decoded: Sequence[str],
        paths: Mapping[tuple[str, Path], Sequence[str | None]],
    ) -> None:
        """Leads as stored now, given as `append_columns` takes them: new ones appended, known
        ones overwritten (revived if need be)."""
        known = self.ids.rows_of(columns["id"])
        added = np.flatnonzero(known == NO_ROW)
        if len(added) == len(known):  # the usual catch-up: only new leads
            self.append_columns(columns, decoded, paths)
        elif len(added):
            self.append_columns(_taken(columns, added), decoded, _taken(paths, added))
        updated = np.flatnonzero(known != NO_ROW)
        if len(updated):
            rows = known[updated]
            self._assign_columns(rows, _taken(columns, updated), decoded, _taken(paths, updated))
        self.version += 1

    def append_columns(
        self,
        columns: Mapping[str, Sequence[Any]],
        decoded: Sequence[str],
        paths: Mapping[tuple[str, Path], Sequence[str | None]] | None = None,
    ) -> None:
        """New leads given column by column: every lead column, `name` and `enrichment_status`;
        the columns in `decoded` as JSON text, instants as datetimes or as microseconds; and
        the value of every loaded path, as JSON text (a build loads none)."""
        ids = columns["id"]
        self.ids.append(ids)
        self.alive.extend(np.ones(len(ids), bool))
        self.account_rows.extend(self._account_rows(columns["account_id"]))
        for name, column in self.columns.items():
            if isinstance(column, DenseColumn):
                column.append_values(columns[name])
            elif name in decoded:
                column.append_json(columns[name])
            else:
                column.append(columns[name])
        for key, path_column in self.paths.items():
            assert paths is not None, "the loaded paths' values are needed"
            path_column.append_json(paths[key])
        self.version += 1

    def _assign_columns(
        self,
        rows: np.ndarray[Any, Any],
        columns: Mapping[str, Sequence[Any]],
        decoded: Sequence[str],
        paths: Mapping[tuple[str, Path], Sequence[str | None]],
    ) -> None:
        at = rows.tolist()
        self.alive.live[rows] = True
        self.account_rows.live[rows] = self._account_rows(columns["account_id"])
        for name, column in self.columns.items():
            if isinstance(column, DenseColumn):
                # parsed as a build parses them (instants may come as microseconds)
                parsed = DenseColumn(column.kind)
                parsed.append_values(columns[name])
                column.values.live[rows] = parsed.values.live
                column.valid.live[rows] = parsed.valid.live
            elif name in decoded:
                column.assign(at, _parsed_json(columns[name]))
            else:
                column.assign(at, columns[name])
        for key, path_column in self.paths.items():
            path_column.assign(at, _parsed_json(paths[key]))

    def remove(self, lead_ids: Iterable[int]) -> None:
        rows = [int(r) for r in self.ids.rows_of(list(lead_ids)) if r != NO_ROW]
        self.alive.live[rows] = False
        self.version += 1

    def settle(self) -> None:
        """After a build: columns trimmed to their size, nearly distinct text packed."""
        for growing in (self.alive, self.account_rows):
            growing.trim()
        self.ids.trim()
        for column in self.columns.values():
            if isinstance(column, DictionaryColumn):
                column.settle(len(self))
            else:
                column.trim()

    def add_path(self, json_column: str, path: Path, values: PathValues) -> DictionaryColumn:
        """The leads' values at `path` of `json_column` (those not named have none)."""
        texts, ids, which = values
        rows = self.ids.rows_of(ids)
        column = self.paths[(json_column, path)] = _path_column(rows, len(self), texts, which)
        return column

    def nbytes(self) -> int:
        columns = [*self.columns.values(), *self.paths.values()]
        return (
            self.ids.nbytes()
            + self.alive.nbytes()
            + self.account_rows.nbytes()
            + sum(c.nbytes() for c in columns)
        )


def _taken(columns: Mapping[K, Sequence[Any]], at: np.ndarray[Any, Any]) -> dict[K, list[Any]]:
    """The values at positions `at` of every column."""
    return {name: [values[i] for i in at] for name, values in columns.items()}


def _enrichment_status(enrichment: Any) -> str:
    """What the filter field `enrichment_status` reads (as filters/evaluate.py derives it)."""
    return "enriched" if isinstance(enrichment, dict) and enrichment else "not_enriched"


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _parsed_json(texts: Sequence[str | None]) -> list[Any]:
    """JSON texts parsed, each distinct text once."""
    parsed: dict[str | None, Any] = {None: None}
    for text in texts:
        if text not in parsed:
            parsed[text] = json_loads(text)  # type: ignore[arg-type]
    return [parsed[text] for text in texts]


class EventTable:
    """Events in two parts: the main part, sorted by type then time (a type is a slice, a
    window two binary searches in it), and the tail, the events appended since, unsorted and
    scanned whole; the tail is merged in when large."""

    MERGE_AT: Final = 100_000

    def __init__(self) -> None:
        self.type_codes: dict[str, int] = {}
        self.ids = np.zeros(0, np.int64)
        self.lead_rows = np.zeros(0, np.int32)
        # Where each type code's events begin in the sorted part (sorted by type, so a type's
        # code per event would be 4 bytes an event telling what this tells), then its size.
        self.type_starts = np.zeros(1, np.int64)
        self.at = np.zeros(0, np.int64)  # microseconds since 1970, ascending within a type
        self.tail_ids = Growing(np.int64)
        self.tail_lead_rows = Growing(np.int32)
        self.tail_types = Growing(np.int32)
        self.tail_at = Growing(np.int64)
        # (type code, metadata path) -> one code per event, main positions then tail positions
        self.paths: dict[tuple[int, Path], DictionaryColumn] = {}
        # The sorted part's positions grouped by lead row, and where each row's begin: a few
        # leads' events (the worker's sync of the leads just written) without reading a
        # type's whole window. Built with the sorted part; a merge regroups without sorting,
        # so a lead's positions are not in order (their readers sort what they keep).
        self.by_lead = np.zeros(0, np.int32)
        self.lead_starts = np.zeros(1, np.int64)

    def __len__(self) -> int:
        return len(self.ids) + len(self.tail_ids)

    def _group_by_lead(self) -> None:
        rows = self.lead_rows
        self.by_lead = np.argsort(rows, kind="stable").astype(np.int32)
        self._keep_starts(np.bincount(rows) if len(rows) else np.zeros(0, np.int64))

    def _keep_starts(self, counts: np.ndarray[Any, Any]) -> None:
        wide = int(counts.sum()) >= 2**31  # offsets in int32 while they fit: 4 bytes a lead
        starts = np.cumsum(counts, dtype=np.int64 if wide else np.int32)
        self.lead_starts = np.concatenate((np.zeros(1, starts.dtype), starts))

    def _regroup_by_lead(
        self, order: np.ndarray[Any, Any], tail_rows: np.ndarray[Any, Any]
    ) -> None:
        """The grouping after a merge (`order`: the merged part's order of the old part then
        the tail), without sorting the whole table again (1.3 s at 10M events): each lead's
        old positions, renumbered, then its tail events' (a lead's positions need not be in
        order: their readers sort what they keep)."""
        renumbered = np.empty(len(order), self.by_lead.dtype)  # int32: a smaller gather
        renumbered[order] = np.arange(len(order), dtype=renumbered.dtype)
        old_starts = self.lead_starts.astype(np.int64)
        leads = max(len(old_starts) - 1, int(tail_rows.max()) + 1 if len(tail_rows) else 0)
        old_counts = np.zeros(leads, np.int64)
        old_counts[: len(old_starts) - 1] = np.diff(old_starts)
        tail_counts = np.bincount(tail_rows, minlength=leads).astype(np.int64)
        starts = np.concatenate(([0], np.cumsum(old_counts + tail_counts)))
        by_lead = np.empty(len(order), np.int32)
        # Each lead's old entries go first in its new run, its tail events (sorted by lead)
        # after them.
        by_lead[_runs(starts[:-1], old_counts)] = renumbered[self.by_lead]
        tail_order = np.argsort(tail_rows, kind="stable")
        tail_slots = _runs(starts[:-1] + old_counts, tail_counts)
        by_lead[tail_slots] = renumbered[len(self.by_lead) + tail_order]
        self.by_lead = by_lead
        self._keep_starts(old_counts + tail_counts)

    def _lead_runs(
        self, rows: np.ndarray[Any, Any]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Where each of lead `rows`' runs of `by_lead` begins, and its length."""
        rows = rows[rows < len(self.lead_starts) - 1]  # newer rows: no events in the sorted part
        starts = self.lead_starts[rows].astype(np.int64)
        return starts, self.lead_starts[rows + 1] - starts

    def events_of(self, rows: np.ndarray[Any, Any]) -> int:
        """How many events of the sorted part lead `rows` have."""
        return int(self._lead_runs(rows)[1].sum())

    def positions_of(self, rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The sorted part's positions of the events of lead `rows`, lead by lead."""
        positions: np.ndarray[Any, Any] = self.by_lead[_runs(*self._lead_runs(rows))]
        return positions.astype(np.int64)

    def type_code(self, event_type: str, add: bool = False) -> int | None:
        code = self.type_codes.get(event_type)
        if code is None and add:
            code = self.type_codes[event_type] = len(self.type_codes)
        return code

    def type_slice(self, code: int) -> tuple[int, int]:
        """Where a type's events lie in the sorted part (a type first seen in the tail: none)."""
        if code + 1 >= len(self.type_starts):
            return len(self.ids), len(self.ids)
        return int(self.type_starts[code]), int(self.type_starts[code + 1])

    def sorted_types(self) -> np.ndarray[Any, Any]:
        """The type code of each event of the sorted part."""
        codes = np.arange(len(self.type_starts) - 1, dtype=np.int32)
        return np.repeat(codes, np.diff(self.type_starts))

    def _keep_types(self, sorted_types: np.ndarray[Any, Any]) -> None:
        count = int(sorted_types.max()) + 1 if len(sorted_types) else 0
        starts = np.searchsorted(sorted_types, np.arange(count + 1), "left")
        self.type_starts = starts.astype(np.int64)

    def load_sorted(
        self,
        ids: np.ndarray[Any, Any],
        lead_rows: np.ndarray[Any, Any],
        types: np.ndarray[Any, Any],
        at: np.ndarray[Any, Any],
    ) -> None:
        """The bulk of a build: arrays already aligned; sorted here by (type, time, id)."""
        order = _event_order(ids, types, at)
        self.ids, self.lead_rows = ids[order], lead_rows[order].astype(np.int32)
        self.at = at[order]
        self._keep_types(types[order])
        self._group_by_lead()

    def append(self, rows: Sequence[Mapping[str, Any]], lead_rows: Sequence[int]) -> None:
        """New events (id, type, occurred_at, metadata) of leads at `lead_rows`."""
        self.tail_ids.extend([row["id"] for row in rows])
        self.tail_lead_rows.extend(lead_rows)
        self.tail_types.extend([self.type_code(row["type"], add=True) for row in rows])
        self.tail_at.extend([micros(row["occurred_at"]) for row in rows])
        for (type_code, path), column in self.paths.items():
            column.append(
                [
                    walk(row["metadata"], path)
                    if self.type_codes[row["type"]] == type_code
                    else None
                    for row in rows
                ]
            )
        if len(self.tail_ids) >= self.MERGE_AT:
            self.merge()

    def merge(self) -> None:
        ids = np.concatenate((self.ids, self.tail_ids.live))
        at = np.concatenate((self.at, self.tail_at.live))
        types = np.concatenate((self.sorted_types(), self.tail_types.live))
        order = self._merge_order()
        self.ids, self.at = ids[order], at[order]
        self._keep_types(types[order])
        tail_rows = self.tail_lead_rows.live
        self.lead_rows = np.concatenate((self.lead_rows, tail_rows))[order]
        for column in self.paths.values():
            column.reorder(order)
        self._regroup_by_lead(order, tail_rows)
        self.tail_ids, self.tail_lead_rows = Growing(np.int64), Growing(np.int32)
        self.tail_types, self.tail_at = Growing(np.int32), Growing(np.int64)

    def _merge_order(self) -> np.ndarray[Any, Any]:
        """The order by (type, time, id) of the sorted part then the tail, without sorting
        the whole table again (a sort of 10M events took 9 s on a loaded machine, inside the
        catch-up that triggers the merge): the tail alone is sorted, each of its events
        finds its place in its type's slice by a binary search, and the sorted part's events
        keep their order around them."""
        tail_ids, tail_at = self.tail_ids.live, self.tail_at.live
        tail_types = self.tail_types.live
        tail_order = _event_order(tail_ids, tail_types, tail_at)
        places = np.empty(len(tail_order), np.int64)  # before which sorted event each goes
        sorted_codes = tail_types[tail_order]
        cuts = np.flatnonzero(np.diff(sorted_codes)) + 1
        for run in np.split(np.arange(len(tail_order)), cuts):
            if not len(run):
                continue
            low, high = self.type_slice(int(sorted_codes[run[0]]))
            places[run] = low + self._places_in(
                low, high, tail_at[tail_order[run]], tail_ids[tail_order[run]]
            )
        size, added = len(self.ids), len(tail_order)
        order = np.empty(size + added, np.int64)
        tail_slots = places + np.arange(added)
        from_tail = np.zeros(size + added, bool)
        from_tail[tail_slots] = True
        order[~from_tail] = np.arange(size)
        order[tail_slots] = size + tail_order
        return order

    def _places_in(
        self, low: int, high: int, at: np.ndarray[Any, Any], ids: np.ndarray[Any, Any]
    ) -> np.ndarray[Any, Any]:
        """Where events (instants `at` ascending, ties by id) go in the slice [low, high) of
        the sorted part: after its earlier events and its same-instant events of smaller id
        (a tail's ids are usually the newest, but commits come out of order)."""
        times = self.at[low:high]
        places: np.ndarray[Any, Any] = np.searchsorted(times, at, "left")
        ends = np.searchsorted(times, at, "right")
        tied = np.flatnonzero(ends > places)
        # Ties on the instant are rare (microseconds); each instant's tied events are
        # placed among its sorted events (ascending by id there) by one binary search.
        for group in np.split(tied, np.flatnonzero(np.diff(places[tied])) + 1):
            if len(group):
                first = low + int(places[group[0]])
                same = self.ids[first : low + int(ends[group[0]])]
                places[group] += np.searchsorted(same, ids[group], "left")
        return places

    def add_path(self, type_code: int, path: Path, values: PathValues) -> DictionaryColumn:
        """The values at `path` of events of type `type_code`; code 0 (no value) for every
        other event."""
        texts, ids, which = values
        all_ids = np.concatenate((self.ids, self.tail_ids.live))
        positions = _by_table(all_ids, ids)
        if positions is None:  # ids too sparse for a table: binary searches
            positions = np.full(len(ids), NO_ROW, np.int64)
            if len(all_ids) and len(ids):
                order = np.argsort(all_ids)
                at = np.minimum(np.searchsorted(all_ids[order], ids), len(all_ids) - 1)
                found = all_ids[order][at] == ids
                positions[found] = order[at[found]]
        column = _path_column(positions, len(all_ids), texts, which)
        self.paths[(type_code, path)] = column
        return column

    def nbytes(self) -> int:
        arrays = (
            self.ids,
            self.lead_rows,
            self.at,
            self.type_starts,
            self.by_lead,
            self.lead_starts,
        )
        tails = (self.tail_ids, self.tail_lead_rows, self.tail_types, self.tail_at)
        return (
            sum(a.nbytes for a in arrays)
            + sum(t.nbytes() for t in tails)
            + sum(c.nbytes() for c in self.paths.values())
        )


def _runs(starts: np.ndarray[Any, Any], lengths: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """start, start + 1, ... for each (start, length), one after another, at once: a running
    index shifted per run."""
    total = int(lengths.sum())
    shift = starts.astype(np.int64) - (np.cumsum(lengths, dtype=np.int64) - lengths)
    runs: np.ndarray[Any, Any] = np.arange(total, dtype=np.int64) + np.repeat(shift, lengths)
    return runs


def _event_order(
    ids: np.ndarray[Any, Any], types: np.ndarray[Any, Any], at: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """The order by (type, time, id). One stable sort by type and time packed into one int64,
    over events in id order, gives it; a lexsort of the three keys took twice as long."""
    if not len(ids):
        return np.zeros(0, np.int64)
    low, high = int(at.min()), int(at.max())
    span = high - low + 1
    if (int(types.max()) + 1) * span >= 2**63:  # times too far apart to pack: sort by three keys
        lexsorted: np.ndarray[Any, Any] = np.lexsort((ids, at, types))
        return lexsorted
    key = types.astype(np.int64) * span + (at - low)
    by_id = None if bool(np.all(ids[1:] > ids[:-1])) else np.argsort(ids, kind="stable")
    if by_id is None:  # read in id order, as a build nearly always reads them
        ordered: np.ndarray[Any, Any] = np.argsort(key, kind="stable")
        return ordered
    return by_id[np.argsort(key[by_id], kind="stable")]


def _path_column(
    rows: np.ndarray[Any, Any], size: int, texts: Sequence[str], which: np.ndarray[Any, Any]
) -> DictionaryColumn:
    """A column of `size` rows holding at each of `rows` (NO_ROW: skipped) the value of the
    JSON text `texts[which]`, and None elsewhere (code 0). Each distinct text is parsed and
    encoded once: a value per row through `encode` took seconds a path at a million leads."""
    column = DictionaryColumn()
    column.encode(None)
    text_codes = np.asarray([column.encode(json_loads(text)) for text in texts], np.int32)
    codes = np.zeros(size, np.int32)
    held = rows != NO_ROW
    codes[rows[held]] = text_codes[which[held]]
    column.codes.extend(codes)
    return column


class Memberships:
    """Members of static lists and of inactive (frozen) segments, and segments' manual includes
    and excludes: one boolean per lead row for each (a byte a lead); and for time in segment,
    an active segment's maintained members with when each entered (8 bytes a lead). All loaded
    on first use and kept current from the change feed."""

    def __init__(self, leads: LeadTable) -> None:
        self.leads = leads
        self.members: dict[tuple[str, int], Growing] = {}
        self.entered: dict[int, Growing] = {}  # segment id -> entered_at per lead row

    def has(self, key: tuple[str, int]) -> bool:
        return key in self.members

    def load(self, key: tuple[str, int], lead_ids: Iterable[int]) -> None:
        flags = Growing(np.bool_, False)
        flags.extend(np.zeros(len(self.leads), bool))
        rows = self.leads.ids.rows_of(list(lead_ids))
        flags.live[rows[rows != NO_ROW]] = True
        self.members[key] = flags

    def _flags(self, key: tuple[str, int]) -> Growing:
        flags = self.members[key]
        if len(flags) < len(self.leads):  # leads appended since: not members until told
            flags.extend(np.zeros(len(self.leads) - len(flags), bool))
        return flags

    def set_lead(self, key: tuple[str, int], lead_id: int, member: bool) -> None:
        if key in self.members:
            row = self.leads.ids.row_of(lead_id)
            if row != NO_ROW:
                self._flags(key).live[row] = member

    def mask(self, key: tuple[str, int], leads: LeadTable) -> BoolArray:
        if key not in self.members:
            return np.zeros(len(leads), bool)
        flags: BoolArray = self._flags(key).live
        return flags

    # -- when each member of an active segment entered it (time in segment) -----------------

    def has_entered(self, segment_id: int) -> bool:
        return segment_id in self.entered

    def load_entered(self, segment_id: int, lead_ids: Iterable[int], at: Iterable[int]) -> None:
        """An active segment's maintained members and when each current membership began
        (microseconds); every other lead row holds NOT_A_MEMBER."""
        instants = Growing(np.int64, NOT_A_MEMBER)
        instants.extend(np.full(len(self.leads), NOT_A_MEMBER, np.int64))
        rows = self.leads.ids.rows_of(list(lead_ids))
        at_array = np.asarray(list(at), np.int64)
        known = rows != NO_ROW
        instants.live[rows[known]] = at_array[known]
        self.entered[segment_id] = instants

    def set_entered(self, segment_id: int, lead_id: int, at: int | None) -> None:
        """A lead's membership of the segment as it stands now (None: not a member)."""
        if segment_id in self.entered:
            row = self.leads.ids.row_of(lead_id)
            if row != NO_ROW:
                self._entered(segment_id).live[row] = NOT_A_MEMBER if at is None else at

    def _entered(self, segment_id: int) -> Growing:
        instants = self.entered[segment_id]
        if len(instants) < len(self.leads):  # leads appended since: not members until told
            missing = len(self.leads) - len(instants)
            instants.extend(np.full(missing, NOT_A_MEMBER, np.int64))
        return instants

    def entered_at(self, segment_id: int) -> np.ndarray[Any, Any]:
        """Per lead row, when its current membership of the segment began (NOT_A_MEMBER)."""
        if segment_id not in self.entered:
            return np.full(len(self.leads), NOT_A_MEMBER, np.int64)
        return self._entered(segment_id).live

    def nbytes(self) -> int:
        return sum(flags.nbytes() for flags in self.members.values()) + sum(
            instants.nbytes() for instants in self.entered.values()
        )
