"""Where filters find the segments and lists they refer to (`in_segment`, `in_list`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import sqlalchemy as sa

from segmint.store.tables import lists, segments


class SegmentSource(Protocol):
    def get_filter(self, segment_id: int) -> Any | None:
        """The stored filter JSON of a segment of the project, None if there is no such one."""
        ...

    def has_list(self, list_id: int) -> bool: ...

    def may_read(self, segment_id: int) -> bool:
        """Whether the caller the filter is checked for may read this segment (True when there
        is no such segment: that is reported as unknown, not as forbidden)."""
        ...


class DbSegmentSource:
    """Reads the `segments` and `lists` tables of one project through a connection.

    `only_created_by`: the caller may read only the segments this user created (a member);
    None: every segment of the project (owners, admins, the system itself).
    """

    def __init__(
        self, conn: sa.Connection, project_id: int, only_created_by: int | None = None
    ) -> None:
        self._conn = conn
        self._project_id = project_id
        self._only_created_by = only_created_by

    def _row(self, segment_id: int) -> Any | None:
        return self._conn.execute(
            sa.select(segments.c.filter, segments.c.created_by).where(
                segments.c.project_id == self._project_id, segments.c.id == segment_id
            )
        ).first()

    def get_filter(self, segment_id: int) -> Any | None:
        row = self._row(segment_id)
        return None if row is None else row.filter

    def may_read(self, segment_id: int) -> bool:
        if self._only_created_by is None:
            return True
        row = self._row(segment_id)
        return row is None or row.created_by == self._only_created_by

    def has_list(self, list_id: int) -> bool:
        row = self._conn.execute(
            sa.select(lists.c.id).where(
                lists.c.project_id == self._project_id, lists.c.id == list_id
            )
        ).first()
        return row is not None


class MemorySegmentSource:
    """Filters and lists held in memory (tests, previews of unsaved segments)."""

    def __init__(
        self, filters: Mapping[int, Any] | None = None, list_ids: frozenset[int] = frozenset()
    ) -> None:
        self._filters = dict(filters or {})
        self._lists = list_ids

    def get_filter(self, segment_id: int) -> Any | None:
        return self._filters.get(segment_id)

    def has_list(self, list_id: int) -> bool:
        return list_id in self._lists

    def may_read(self, segment_id: int) -> bool:
        return True


class CachingSegmentSource:
    """Another source, each answer remembered: for evaluating many leads in one transaction."""

    def __init__(self, inner: SegmentSource) -> None:
        self._inner = inner
        self._filters: dict[int, Any | None] = {}
        self._lists: dict[int, bool] = {}

    def get_filter(self, segment_id: int) -> Any | None:
        if segment_id not in self._filters:
            self._filters[segment_id] = self._inner.get_filter(segment_id)
        return self._filters[segment_id]

    def has_list(self, list_id: int) -> bool:
        if list_id not in self._lists:
            self._lists[list_id] = self._inner.has_list(list_id)
        return self._lists[list_id]

    def may_read(self, segment_id: int) -> bool:
        return self._inner.may_read(segment_id)
