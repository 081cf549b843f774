"""Where filters find the segments and lists they refer to (`in_segment`, `in_list`): the
protocol, and the sources that need no database (the engine's `StoredSegments` reads the
tables)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class SegmentSource(Protocol):
    def get_filter(self, segment_id: int) -> Any | None:
        """The stored filter JSON of a segment of the project, None if there is no such one."""
        ...

    def has_list(self, list_id: int) -> bool: ...

    def audience(self, segment_id: int) -> str | None:
        """Whose segment it is, "leads" or "accounts" (None: no such segment)."""
        ...

    def manual_kinds(self, segment_id: int) -> frozenset[str]:
        """Which of "include" and "exclude" the segment has leads for (manual membership)."""
        ...

    def may_read(self, segment_id: int) -> bool:
        """Whether the caller the filter is checked for may read this segment (True when there
        is no such segment: that is reported as unknown, not as forbidden)."""
        ...

    def is_active(self, segment_id: int) -> bool:
        """Whether the segment keeps a maintained membership (what time in segment reads)."""
        ...


class MemorySegmentSource:
    """Filters and lists held in memory (tests, previews of unsaved segments)."""

    def __init__(
        self,
        filters: Mapping[int, Any] | None = None,
        list_ids: frozenset[int] = frozenset(),
        manual: Mapping[int, frozenset[str]] | None = None,
        audiences: Mapping[int, str] | None = None,
        inactive: frozenset[int] = frozenset(),
    ) -> None:
        self._audiences = dict(audiences or {})
        self._filters = dict(filters or {})
        self._lists = list_ids
        self._manual = dict(manual or {})
        self._inactive = inactive

    def get_filter(self, segment_id: int) -> Any | None:
        return self._filters.get(segment_id)

    def has_list(self, list_id: int) -> bool:
        return list_id in self._lists

    def audience(self, segment_id: int) -> str | None:
        if segment_id not in self._filters:
            return None
        return self._audiences.get(segment_id, "leads")

    def manual_kinds(self, segment_id: int) -> frozenset[str]:
        return self._manual.get(segment_id, frozenset())

    def may_read(self, segment_id: int) -> bool:
        return True

    def is_active(self, segment_id: int) -> bool:
        return segment_id not in self._inactive


class CachingSegmentSource:
    """Another source, each answer remembered: for evaluating many leads in one transaction."""

    def __init__(self, inner: SegmentSource) -> None:
        self._inner = inner
        self._filters: dict[int, Any | None] = {}
        self._lists: dict[int, bool] = {}
        self._manual: dict[int, frozenset[str]] = {}

    def get_filter(self, segment_id: int) -> Any | None:
        if segment_id not in self._filters:
            self._filters[segment_id] = self._inner.get_filter(segment_id)
        return self._filters[segment_id]

    def has_list(self, list_id: int) -> bool:
        if list_id not in self._lists:
            self._lists[list_id] = self._inner.has_list(list_id)
        return self._lists[list_id]

    def audience(self, segment_id: int) -> str | None:
        return self._inner.audience(segment_id)

    def manual_kinds(self, segment_id: int) -> frozenset[str]:
        if segment_id not in self._manual:
            self._manual[segment_id] = self._inner.manual_kinds(segment_id)
        return self._manual[segment_id]

    def may_read(self, segment_id: int) -> bool:
        return self._inner.may_read(segment_id)

    def is_active(self, segment_id: int) -> bool:
        return self._inner.is_active(segment_id)
