"""Who answers: the columnar index when this process has one ready for the project, else SQL.

Every function here gives the same answer either way (the parity and invariant tests hold the
two together); the index is only faster. A bad request is refused the same way by both (the
filter is validated before either runs). Any other failure inside the index is logged, the
project's index is dropped and rebuilt, and the answer comes from SQL: never a 500, never a
wrong count. Answers say who gave them (`Segmint-Engine` on the API's responses).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Generic, TypeVar

import numpy as np
import sqlalchemy as sa

from segmint.engine import filtering
from segmint.errors import InvalidInput, SegmintError
from segmint.filters.tree import Node
from segmint.index import Audience, Reader, indexes_for
from segmint.index.columns import DictionaryColumn
from segmint.index.evaluate import Declined
from segmint.index.tables import NO_ROW
from segmint.projects import Project
from segmint.store.rows import SegmentRow
from segmint.store.tables import leads, list_members, segment_members

log = logging.getLogger("segmint.index")

INDEX: Final = "index"
SQL: Final = "sql"
ENGINE_HEADER: Final = "Segmint-Engine"
# Answers the index gives as lead ids and SQL goes on from (a sync's writes, a campaign's skip
# reasons) are handed over as one array parameter of at most this many ids; a larger answer is
# left to SQL, set-wise, rather than pulled through Python.
MAX_IDS_TO_SQL: Final = 200_000

T = TypeVar("T")


@dataclass(frozen=True)
class Indexed(Generic[T]):
    """An answer the index gave (None from `through_index` means: ask SQL)."""

    value: T


def through_index(
    conn: sa.Connection, project: Project, work: Callable[[Reader], T]
) -> Indexed[T] | None:
    """`work` done on the project's index caught up to now, or None when it cannot be."""
    indexes = indexes_for(conn.engine)
    index = indexes.ready(project.id) if indexes is not None else None
    if indexes is None or index is None:
        return None
    try:
        with index.read_for(conn) as reader:
            answer = Indexed(work(reader))
        indexes.check_budget(project.id, index)
        return answer
    except Declined:
        # A tree the index has no vector form for (an account segment's own answers), or time
        # in segment of a segment whose members this transaction changed: SQL answers, the
        # index is fine.
        return None
    except SegmintError:
        raise  # the request's own fault (an unknown segment, a forbidden one): not the index's
    except (sa.exc.TimeoutError, sa.exc.DBAPIError) as exc:
        # No free connection, a statement timed out, the database went away: the index is as
        # it was (a catch-up appends events last, after every read) and SQL answers this once.
        log.warning("the index of project %s could not read the database: %s", project.id, exc)
        return None
    except Exception as exc:
        indexes.failed(project.id, exc)
        return None


def can_answer(conn: sa.Connection, project: Project) -> bool:
    """Whether the project's index is ready now (a caller about to fetch candidates for it
    asks first; an answer may still fall back to SQL)."""
    indexes = indexes_for(conn.engine)
    return indexes is not None and indexes.ready(project.id) is not None


def segment_audience(
    conn: sa.Connection,
    project: Project,
    row: SegmentRow,
    q: str | None = None,
    kinds: Collection[str] | None = None,
) -> Audience:
    """A segment's members as the index reads them: live through its filter and manual
    members when active, its frozen members when not; narrowed by a search. `kinds`: its
    manual kinds, when read already for several segments (`filtering.manual_kinds_of`).
    Every answer about a segment's leads (pages, exports, overlap, campaigns, bulk actions)
    starts here, so an account segment is refused here once, naming what it is."""
    if row.audience != "leads":
        raise InvalidInput(
            f"segment {row.id} is an account segment: its members are accounts, not leads "
            "(see /segments/{id}/accounts)",
            "segment",
        )
    filters = (
        (filtering.segment_tree(conn, project, row.id, row.filter, kinds),) if row.active else ()
    )
    members = () if row.active else (("segment", row.id),)
    search = filtering.search_tree(project, q)
    return Audience(filters + ((search,) if search is not None else ()), members)


def sql_condition(
    conn: sa.Connection, project: Project, audience: Audience, now: datetime
) -> sa.ColumnElement[bool] | None:
    """The same audience as a condition over `leads`, for the SQL path (None: every lead)."""
    parts = [filtering.condition(conn, project, tree, now) for tree in audience.filters]
    for kind, container in audience.members:
        if kind == "list":
            ids = sa.select(list_members.c.lead_id).where(
                list_members.c.project_id == project.id, list_members.c.list_id == container
            )
        else:
            ids = sa.select(segment_members.c.lead_id).where(
                segment_members.c.project_id == project.id,
                segment_members.c.segment_id == container,
            )
        parts.append(leads.c.id.in_(ids))
    return sa.and_(*parts) if parts else None


def list_audience(project: Project, list_id: int, q: str | None = None) -> Audience:
    search = filtering.search_tree(project, q)
    return Audience((search,) if search is not None else (), (("list", list_id),))


def counts(
    conn: sa.Connection, project: Project, audiences: list[Audience], now: datetime
) -> list[int] | None:
    """Several counts from one catch-up of the index (a segments list), or None: ask SQL."""
    source = filtering.StoredSegments(conn, project.id)

    def work(reader: Reader) -> list[int]:
        return [
            int(np.count_nonzero(reader.select(audience, project, now, source)))
            for audience in audiences
        ]

    indexed = through_index(conn, project, work)
    return None if indexed is None else indexed.value


def count(
    conn: sa.Connection, project: Project, audience: Audience, now: datetime
) -> tuple[int, str]:
    """How many leads are in the audience at `now`, and who counted them."""
    source = filtering.StoredSegments(conn, project.id)

    def work(reader: Reader) -> int:
        return int(np.count_nonzero(reader.select(audience, project, now, source)))

    indexed = through_index(conn, project, work)
    if indexed is not None:
        return indexed.value, INDEX
    where = sql_condition(conn, project, audience, now)
    query = sa.select(sa.func.count()).select_from(leads).where(leads.c.project_id == project.id)
    if where is not None:
        query = query.where(where)
    return int(conn.execute(query).scalar() or 0), SQL


@dataclass(frozen=True)
class PageIds:
    ids: list[int]
    total: int


def page_ids(
    conn: sa.Connection,
    project: Project,
    audience: Audience,
    sort: tuple[str, bool],
    page: int,
    per_page: int,
    now: datetime,
) -> Indexed[PageIds] | None:
    """The ids on one page of the audience in a sort's order (`sort`: a lead column and whether
    descending), and the total: no OFFSET, the order is kept sorted in memory."""
    source = filtering.StoredSegments(conn, project.id)

    def work(reader: Reader) -> PageIds:
        mask = reader.select(audience, project, now, source)
        start = (page - 1) * per_page
        rows = reader.page(mask, *sort, start, start + per_page)
        return PageIds(reader.ids(rows), int(np.count_nonzero(mask)))

    return through_index(conn, project, work)


def matching_all(
    conn: sa.Connection, project: Project, audience: Audience, now: datetime
) -> Indexed[np.ndarray] | None:
    """The ids (sorted, int64) of every lead in the audience at `now`."""
    source = filtering.StoredSegments(conn, project.id)

    def work(reader: Reader) -> np.ndarray:
        mask = reader.select(audience, project, now, source)
        return np.sort(_lead_ids(reader)[mask])

    return through_index(conn, project, work)


def matching_among(
    conn: sa.Connection,
    project: Project,
    trees: Mapping[int, Node],
    among: Sequence[int],
    now: datetime,
) -> Indexed[dict[int, set[int]]] | None:
    """For each keyed filter, which of the leads `among` it matches at `now`: all of them read
    in one snapshot of the index (a lead the index does not hold, deleted or never written,
    matches nothing, as in SQL)."""
    source = filtering.StoredSegments(conn, project.id)
    wanted = np.asarray(sorted(set(among)), np.int64)

    def work(reader: Reader) -> dict[int, set[int]]:
        rows = reader.rows_of(wanted)
        held = rows != NO_ROW
        rows, ids = rows[held], wanted[held]
        found: dict[int, set[int]] = {}
        for key, tree in trees.items():  # evaluated at these rows only, not at every lead
            mask = reader.select(Audience((tree,)), project, now, source, rows)
            found[key] = {int(i) for i in ids[mask]}
        return found

    return through_index(conn, project, work)


def union_ids(
    conn: sa.Connection,
    project: Project,
    included: Sequence[Audience],
    excluded: Sequence[Audience],
    also: Node | None,
    now: datetime,
) -> Indexed[np.ndarray] | None:
    """The ids (sorted, int64) of leads in any `included` audience, in no `excluded` one and
    matching `also` (a campaign's targeting)."""
    source = filtering.StoredSegments(conn, project.id)

    def work(reader: Reader) -> np.ndarray:
        mask = np.zeros(reader.size(), bool)
        for audience in included:
            mask |= reader.select(audience, project, now, source)
        for audience in excluded:
            mask &= ~reader.select(audience, project, now, source)
        if also is not None:
            mask &= reader.select(Audience((also,)), project, now, source)
        return np.sort(_lead_ids(reader)[mask])

    return through_index(conn, project, work)


def _lead_ids(reader: Reader) -> np.ndarray:
    return reader.lead_ids()


@dataclass(frozen=True)
class MemberSums:
    """Sums over an audience: how many, their total of a number column, and how many of them
    also match a filter."""

    count: int
    total: float
    matching: int


def member_sums(
    conn: sa.Connection,
    project: Project,
    audience: Audience,
    column: str,
    also: Node,
    now: datetime,
) -> Indexed[MemberSums] | None:
    """Analytics' current numbers from the index: `column` must be a number column (nulls are
    left out of the total, as SQL's SUM leaves them)."""
    source = filtering.StoredSegments(conn, project.id)

    def work(reader: Reader) -> MemberSums:
        mask = reader.select(audience, project, now, source)
        values, known = reader.numbers(column)
        total = math.fsum(values[mask & known].tolist())
        also_mask = mask & reader.select(Audience((also,)), project, now, source)
        return MemberSums(int(np.count_nonzero(mask)), total, int(np.count_nonzero(also_mask)))

    return through_index(conn, project, work)


@dataclass(frozen=True)
class ExportColumn:
    """One column of an export as the index holds it: its dictionary, the codes of the exported
    rows into it (in export order), and the column itself for its per-value cache. Read under
    the index's lock, formatted after it: a dictionary only grows, so the codes stay right."""

    values: Sequence[object]
    codes: np.ndarray
    column: DictionaryColumn


ExportColumns = list[ExportColumn]


def export_columns(
    conn: sa.Connection,
    project: Project,
    audience: Audience,
    columns: tuple[str, ...],
    now: datetime,
) -> Indexed[ExportColumns] | None:
    """For each of `columns`, its dictionary and the codes of the audience's leads in export
    order (created_at, then id)."""
    source = filtering.StoredSegments(conn, project.id)

    def work(reader: Reader) -> ExportColumns:
        rows = reader.ordered(reader.select(audience, project, now, source), "created_at", False)
        return [_column(reader, name, rows) for name in columns]

    return through_index(conn, project, work)


def _column(reader: Reader, name: str, rows: np.ndarray) -> ExportColumn:
    values, codes = reader.column_values(name, rows)
    column = reader.index.leads.columns[name]
    assert isinstance(column, DictionaryColumn)
    return ExportColumn(values, codes, column)
