"""One project's index: its tables, where it stands in the change feed, and reading it.

Every read goes through `reading()`: it takes the project's lock, opens one snapshot, catches
up with every change committed before it, and answers from the tables in that same snapshot
(a JSON path named for the first time is read in it too). An answer therefore reflects every
write committed before the request began and nothing uncommitted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import sqlalchemy as sa

from segmint.filters.source import SegmentSource
from segmint.filters.timing import TimeContext
from segmint.filters.tree import And, Node
from segmint.index import loading
from segmint.index.answers import AnswerCache
from segmint.index.columns import DenseColumn, DictionaryColumn
from segmint.index.evaluate import Loaders, Walk
from segmint.index.feed import (
    RETENTION,
    Changes,
    Position,
    has_written,
    position_now,
    read_changes,
    snapshot,
)
from segmint.index.tables import AccountTable, EventTable, LeadTable, Memberships, Path
from segmint.index.vectors import BoolArray, gather
from segmint.projects import Project

# (kind, id): the stored members of a static list ("list") or of an inactive segment ("segment"),
# or a segment's leads included ("include") or excluded ("exclude") by hand
Members = tuple[str, int]


@dataclass(frozen=True)
class Audience:
    """Who to answer for: leads matching every filter and belonging to every member set."""

    filters: tuple[Node, ...] = ()
    members: tuple[Members, ...] = ()


class ProjectIndex:
    def __init__(self, project_id: int) -> None:
        self.project_id = project_id
        self.lock = threading.RLock()
        self.accounts = AccountTable()
        self.leads = LeadTable(self.accounts)
        self.events = EventTable()
        self.memberships = Memberships(self.leads)
        self.position = Position()
        self.caught_up_at = time.monotonic()  # when it last read the feed
        self._orders: dict[tuple[str, bool], tuple[int, np.ndarray[Any, Any]]] = {}
        self.answers = AnswerCache()

    def tables(self) -> tuple[AccountTable, LeadTable, EventTable, Memberships]:
        return self.accounts, self.leads, self.events, self.memberships

    def nbytes(self) -> int:
        orders = sum(order.nbytes for _, order in self._orders.values())
        parts = (self.accounts, self.leads, self.events, self.memberships, self.answers)
        return orders + sum(part.nbytes() for part in parts)

    def build(
        self,
        engine: sa.Engine,
        budget: int | None = None,
        progress: loading.Progress | None = None,
    ) -> None:
        """Load the whole project in one snapshot; raises OverBudget past `budget` bytes."""
        progress = progress or loading.log_progress(self.project_id)
        with (
            snapshot(engine) as conn,
            loading.events_aside(engine, conn, self.project_id, progress) as events,
        ):
            self.load(conn, budget, progress, events)

    def load(
        self,
        conn: sa.Connection,
        budget: int | None = None,
        progress: loading.Progress | None = None,
        events: Callable[[], loading.EventArrays] | None = None,
    ) -> None:
        """Load the project as `conn` sees it (a snapshot; or, in tests, their own transaction);
        the events through `events` when given (read beside, in the same snapshot)."""

        def check() -> None:
            if budget is not None and self.nbytes() > budget:
                raise loading.OverBudget(f"needs more than {budget:,} bytes")

        progress = progress or loading.log_progress(self.project_id)
        with self.lock:
            self.position = position_now(conn)
            loading.load_accounts(conn, self.project_id, self.accounts)
            loading.load_leads(conn, self.project_id, self.leads, check, progress)
            self.leads.settle()
            loading.load_events(conn, self.project_id, self.leads, self.events, progress, events)
            check()

    def catch_up(self, conn: sa.Connection) -> int:
        """Apply every change `conn`'s snapshot sees and the index has not; how many."""
        changes, after = read_changes(conn, self.project_id, self.position)
        self._apply(conn, changes, after)
        return changes.count

    def _apply(self, conn: sa.Connection, changes: Changes, after: Position) -> None:
        if changes.count:
            loading.apply_changes(conn, self.project_id, changes, self.tables())
        self.position = after
        self.caught_up_at = time.monotonic()

    def _caught_up_unless_written(self, conn: sa.Connection) -> bool:
        """Catch up through `conn` unless its transaction has written (its writes may yet roll
        back: the index must not learn them); whether it did. On PostgreSQL the feed's own read
        tells, which saves a round trip before every answer."""
        if conn.dialect.name != "postgresql":
            if has_written(conn):
                return False
            self.catch_up(conn)
            return True
        changes, after = read_changes(conn, self.project_id, self.position)
        if after.own is not None:
            return False
        self._apply(conn, changes, after)
        return True

    def stale(self) -> bool:
        """Idle for so long that the feed may have been pruned past it: build it anew."""
        return time.monotonic() - self.caught_up_at > RETENTION.total_seconds() / 2

    @contextmanager
    def reading(self, engine: sa.Engine) -> Iterator[Reader]:
        """The index caught up to a new snapshot, read in it (its own connection)."""
        with snapshot(engine) as conn, self.read_in(conn) as reader:
            yield reader

    @contextmanager
    def read_in(self, conn: sa.Connection) -> Iterator[Reader]:
        """The index caught up to what `conn` sees, read through it: a request's own
        connection, so an answer takes no second one from the pool. Only for a connection whose
        transaction has written nothing (`has_written`), or the index would learn writes that
        may yet roll back; tests that build inside their own transaction know what they do."""
        with self.lock:
            self.catch_up(conn)
            yield Reader(self, conn)

    @contextmanager
    def read_for(self, conn: sa.Connection) -> Iterator[Reader]:
        """Through `conn` when it has written nothing, else through a snapshot of its own."""
        with self.lock:
            if self._caught_up_unless_written(conn):
                yield Reader(self, conn)
                return
        with self.reading(conn.engine) as reader:
            reader.caller = conn
            yield reader

    def order(self, key: str, descending: bool) -> np.ndarray[Any, Any]:
        """Every lead row in a sort's order (ties by id in the same direction, nulls last),
        kept until the next change."""
        cached = self._orders.get((key, descending))
        if cached is not None and cached[0] == self.leads.version:
            return cached[1]
        order = _sorted_rows(self.leads, key, descending)
        self._orders[(key, descending)] = (self.leads.version, order)
        return order


def _ranks(column: DictionaryColumn, key: str) -> np.ndarray[Any, Any]:
    """Each row's place in the column's text order (code points, as PostgreSQL's C collation
    and SQLite sort), -1 for null."""
    values = column.values
    texts: list[Any] = [v.strip(" ") if key == "name" and isinstance(v, str) else v for v in values]
    present = [i for i, v in enumerate(texts) if v is not None]
    present.sort(key=texts.__getitem__)
    rank_of_value = np.full(len(values), -1, np.int64)
    ranks = np.arange(len(present), dtype=np.int64)
    if present:
        # equal texts share a rank, so ties fall to the id as they do in SQL
        sorted_texts = [texts[i] for i in present]
        same = np.fromiter(
            (i > 0 and sorted_texts[i] == sorted_texts[i - 1] for i in range(len(present))),
            bool,
            len(present),
        )
        ranks = np.cumsum(~same) - 1
        rank_of_value[np.asarray(present, np.int64)] = ranks
    result: np.ndarray[Any, Any] = rank_of_value[column.codes.live]
    return result


def _sorted_rows(
    leads: LeadTable, key: str, descending: bool, among: np.ndarray[Any, Any] | None = None
) -> np.ndarray[Any, Any]:
    """The lead rows (or the rows `among`, when given: a number or instant key only) in a
    sort's order: nulls last, then the key, then the id, all in the sort's direction."""
    column = leads.columns[key]
    rows = slice(None) if among is None else among
    if isinstance(column, DenseColumn):
        ranks = column.values.live[rows].astype(np.int64)
        nulls = ~column.valid.live[rows]
    else:
        assert among is None, "a text key is ranked over every row"
        ranks = _ranks(column, key)
        nulls = ranks < 0
    ids = leads.ids.ids.live[rows]
    if descending:
        ranks, ids = -ranks, -ids
    # lexsort sorts by the last key first: nulls last, then the key, then the id. Kept as
    # int32 (rows are fewer than 2**31): half the bytes of a kept order.
    order: np.ndarray[Any, Any] = np.lexsort((ids, ranks, nulls)).astype(np.int32)
    return order if among is None else among[order]


# A selection of at most this share of the leads is sorted by itself rather than picked from
# the kept order: sorting 20,000 rows beats reading a million-row order, and needs no sort of
# every lead when a write has voided the kept one.
SORTED_ALONE: Final = 1 / 16


class Reader:
    """The index of one project caught up to one snapshot, for the length of one answer."""

    def __init__(
        self, index: ProjectIndex, conn: sa.Connection, caller: sa.Connection | None = None
    ) -> None:
        self.index = index
        self.conn = conn
        # The asker's connection when it had written and the index reads in a snapshot of its
        # own: what that transaction changed is not in the index (time in segment asks).
        self.caller = caller

    def _loaders(self) -> Loaders:
        index, conn, pid = self.index, self.conn, self.index.project_id

        def lead_path(json_column: str, path: Path) -> DictionaryColumn:
            loading.load_lead_path(conn, pid, index.leads, json_column, path)
            return index.leads.paths[(json_column, path)]

        def account_path(path: Path) -> DictionaryColumn:
            loading.load_account_path(conn, pid, index.accounts, path)
            return index.accounts.paths[path]

        def event_path(event_type: str, path: Path) -> DictionaryColumn:
            loading.load_event_path(conn, pid, index.events, event_type, path)
            code = index.events.type_code(event_type)
            assert code is not None
            return index.events.paths[(code, path)]

        def members(key: Members) -> None:
            loading.load_members(conn, pid, index.memberships, key)

        def entered(segment_id: int) -> None:
            loading.load_entered(conn, pid, index.memberships, segment_id)

        def members_written(segment_id: int) -> bool:
            caller = self.caller
            if caller is None:
                return False
            return loading.wrote_members(caller, pid, segment_id, index.position)

        return Loaders(lead_path, account_path, event_path, members, entered, members_written)

    def select(
        self,
        audience: Audience,
        project: Project,
        now: datetime,
        segments: SegmentSource | None,
        rows: np.ndarray[Any, Any] | None = None,
    ) -> BoolArray:
        """One boolean per lead row (or per row of `rows`, when given: a few leads are
        answered for at the cost of a few): alive and in the audience at `now`."""
        index = self.index
        walk = self._walk(project, now, segments)
        alive = index.leads.alive.live
        mask = alive.copy() if rows is None else gather(alive, rows)
        for key in audience.members:
            members = walk.members(key)
            mask &= members if rows is None else gather(members, rows)
        if audience.filters:  # one AND: its candidates narrow as it goes
            mask &= walk.mask(And(audience.filters), rows)
        return mask

    def _walk(self, project: Project, now: datetime, segments: SegmentSource | None) -> Walk:
        index = self.index
        return Walk(
            project,
            TimeContext.of(now, project.zone),
            index.leads,
            index.accounts,
            index.events,
            index.memberships,
            segments,
            self._loaders(),
            index.answers,
        )

    def account_ids(
        self, tree: Node, project: Project, now: datetime, segments: SegmentSource | None
    ) -> np.ndarray[Any, Any]:
        """The ids of the accounts an account segment's filter matches at `now`, ascending."""
        accounts = self.index.accounts
        mask = self._walk(project, now, segments).account_mask(tree) & accounts.alive.live
        return np.sort(accounts.ids.ids.live[mask])

    def ordered(self, mask: BoolArray, key: str, descending: bool) -> np.ndarray[Any, Any]:
        """The rows of `mask`, in a sort's order."""
        leads = self.index.leads
        # counted first: listing the rows of a large selection would be work thrown away
        alone = np.count_nonzero(mask) <= len(mask) * SORTED_ALONE
        if alone and isinstance(leads.columns[key], DenseColumn):
            return _sorted_rows(leads, key, descending, np.flatnonzero(mask))
        order = self.index.order(key, descending)
        picked: np.ndarray[Any, Any] = order[gather(mask, order)]
        return picked

    def page(
        self, mask: BoolArray, key: str, descending: bool, start: int, stop: int
    ) -> np.ndarray[Any, Any]:
        """The rows of `mask` at places start..stop of a sort's order. The order is read from
        its head only as far as the page needs (its share of the mask's rows, then twice as
        far while short), not whole: page 1 of a search reads a sliver of it."""
        order = self.index.order(key, descending)
        total = int(np.count_nonzero(mask))
        if stop <= 0 or start >= total:
            return order[:0]
        share = total / max(len(order), 1)
        reach = min(len(order), int(stop / share * 1.1) + 1024)
        while True:
            head = order[:reach]
            picked: np.ndarray[Any, Any] = head[gather(mask, head)]
            if len(picked) >= stop or reach == len(order):
                return picked[start:stop]
            reach = min(len(order), 2 * reach)

    def ids(self, rows: np.ndarray[Any, Any]) -> list[int]:
        return [int(i) for i in self.index.leads.ids.ids.live[rows]]

    def rows_of(self, lead_ids: Any) -> np.ndarray[Any, Any]:
        """The row of each lead id (NO_ROW, -1, for a lead the index does not hold)."""
        return self.index.leads.ids.rows_of(lead_ids)

    def numbers(self, name: str) -> tuple[np.ndarray[Any, Any], BoolArray]:
        """A number column's values and where they are not null, one per row."""
        column = self.index.leads.columns[name]
        assert isinstance(column, DenseColumn), f"{name} is not a number column"
        return column.values.live, column.valid.live

    def size(self) -> int:
        return len(self.index.leads)

    def lead_ids(self) -> np.ndarray[Any, Any]:
        """Every row's lead id (a dead row keeps its deleted lead's)."""
        return self.index.leads.ids.ids.live

    def column_values(self, name: str, rows: np.ndarray[Any, Any]) -> tuple[Sequence[Any], Any]:
        """A text column's dictionary and the codes of `rows` (a copy: safe to read after the
        lock is released, since dictionaries only grow)."""
        column = self.index.leads.columns[name]
        assert isinstance(column, DictionaryColumn)
        return column.values, column.codes.live[rows].copy()
