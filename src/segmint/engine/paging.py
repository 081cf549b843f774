"""Page-numbered results without large OFFSETs on wide rows.

A page is found in two steps: a narrow query (sort key and id only, often index-only) finds the
last row of the previous page, then the page itself is read with a keyset predicate from there.
Sorting always ends with `id`, so the order is total and stable; nulls sort last either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

MAX_PER_PAGE = 500


@dataclass(frozen=True)
class Sort:
    """One sort key (an expression over the paged table) and its direction."""

    key: sa.ColumnElement[Any]
    descending: bool = False
    # NOT NULL keys skip the nulls-last term, so an index on (key, id) serves the order.
    nullable: bool = True
    field: str | None = None  # the lead column sorted by, when the columnar index can sort


def _order(sort: Sort, id_column: sa.ColumnElement[Any]) -> list[sa.ColumnElement[Any]]:
    key = sort.key.desc() if sort.descending else sort.key.asc()
    tie = id_column.desc() if sort.descending else id_column.asc()
    if not sort.nullable:
        return [key, tie]
    return [sort.key.is_(None).asc(), key, tie]  # nulls last, whatever the direction


def _after(
    sort: Sort, id_column: sa.ColumnElement[Any], value: Any, last_id: Any
) -> sa.ColumnElement[bool]:
    """Rows strictly after (value, last_id) in the order `_order` gives."""
    beyond_id = id_column < last_id if sort.descending else id_column > last_id
    if value is None:
        return sa.and_(sort.key.is_(None), beyond_id)
    beyond_key = sort.key < value if sort.descending else sort.key > value
    after = sa.or_(beyond_key, sa.and_(sort.key == value, beyond_id))
    return sa.or_(after, sort.key.is_(None)) if sort.nullable else after


def page_select(
    conn: sa.Connection,
    query: sa.Select[Any],
    sort: Sort,
    id_column: sa.ColumnElement[Any],
    page: int,
    per_page: int,
) -> sa.Select[Any] | None:
    """`query` narrowed to one page, or None when the page is past the end."""
    order = _order(sort, id_column)
    if page <= 1:
        return query.order_by(*order).limit(per_page)
    boundary_query = (
        query.with_only_columns(sort.key.label("k"), id_column.label("i"))
        .order_by(*order)
        .offset((page - 1) * per_page - 1)
        .limit(1)
    )
    boundary = conn.execute(boundary_query).first()
    if boundary is None:
        return None
    return (
        query.where(_after(sort, id_column, boundary.k, boundary.i))
        .order_by(*order)
        .limit(per_page)
    )
