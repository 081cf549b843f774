"""The indexes of one process: one per project, built on first need, within a memory budget.

`segmint serve` and the worker attach an `Indexes` to their database engine; the engine's
answering code finds it with `indexes_for(engine)` and asks `ready(project_id)` for a built
index, falling back to SQL while there is none (still building, over budget, failed, or
`SEGMINT_INDEX=off`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import queue
import re
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import sqlalchemy as sa

from segmint.errors import InvalidInput
from segmint.filters.parse import parse_filter
from segmint.filters.source import MemorySegmentSource
from segmint.index import loading
from segmint.index.project import Audience, ProjectIndex
from segmint.projects import get_project_by_id
from segmint.store.tables import projects, segments

log = logging.getLogger("segmint.index")

DEFAULT_MEMORY: Final = 2 * 1024**3  # 2 GiB: a 4 GB server, 1M leads and 10M events in half
_UNITS: Final = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


class State(StrEnum):
    BUILDING = "building"
    READY = "ready"
    OVER_BUDGET = "over_budget"
    FAILED = "failed"


def parse_memory(text: str) -> int:
    """`512MB`, `2G`, `1.5GiB` or a number of bytes."""
    found = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if found is None:
        raise InvalidInput(f"{text!r} is not a size such as 512MB or 2GB", "SEGMINT_INDEX_MEMORY")
    return int(float(found.group(1)) * _UNITS[found.group(2)])


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    memory: int = DEFAULT_MEMORY
    background: bool = True  # build in a thread (serve); tests build when first asked

    @classmethod
    def from_env(cls) -> Settings:
        enabled = os.environ.get("SEGMINT_INDEX", "on").strip().lower() not in ("off", "0", "no")
        memory_text = os.environ.get("SEGMINT_INDEX_MEMORY", "").strip()
        memory = parse_memory(memory_text) if memory_text else DEFAULT_MEMORY
        return cls(enabled=enabled, memory=memory)


@dataclass
class _Entry:
    state: State
    index: ProjectIndex | None = None
    build_seconds: float | None = None
    error: str | None = None
    # Its bytes when last measured (after its build, then after each of its answers): what
    # the others' answers count it as, rather than walking every project's columns each time.
    measured: int = 0


class Indexes:
    def __init__(self, engine: sa.Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._entries: dict[int, _Entry] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[int] = queue.Queue()
        self._builder: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()

    def ready(self, project_id: int) -> ProjectIndex | None:
        """The project's index if it can answer now; else None, and a build is under way."""
        with self._lock:
            entry = self._entries.get(project_id)
            if entry is not None and entry.index is not None and entry.index.stale():
                log.info(
                    "index of project %s idle past the feed's retention: rebuilding", project_id
                )
                del self._entries[project_id]
                entry = None
            if entry is None:
                self._entries[project_id] = _Entry(State.BUILDING)
                if self.settings.background:
                    self._queue.put(project_id)
                    self._start_builder()
        if entry is None and not self.settings.background:
            self._build(project_id)
            entry = self._entries[project_id]
        return entry.index if entry is not None and entry.state is State.READY else None

    def build_all(self) -> None:
        """Build every project's index in the background, one after another (serve, at start)."""

        def queue_all() -> None:
            try:
                with self.engine.connect() as conn:
                    ids = conn.execute(sa.select(projects.c.id).order_by(projects.c.id)).scalars()
                    project_ids = list(ids)
            except sa.exc.SQLAlchemyError as exc:  # answers go to SQL until asked again
                log.warning("cannot list the projects to index: %s", exc)
                return
            for project_id in project_ids:
                if self._closed.is_set():
                    return
                self.ready(project_id)

        self._start(threading.Thread(target=queue_all, name="segmint-index-start", daemon=True))

    def _start(self, thread: threading.Thread) -> None:
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def close(self, timeout: float = 30) -> None:
        """Stop building (the build under way finishes) and let go of the engine: the app is
        shutting down, and its database may go away after."""
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout)
        if _ATTACHED.get(self.engine) is self:
            detach(self.engine)

    def check_budget(self, project_id: int, index: ProjectIndex) -> None:
        """After an answer: an index that grew past the budget since its build (JSON paths and
        lists loaded on first use, sort orders kept) is let go, and SQL answers its project."""
        own = index.nbytes()
        with self._lock:
            entry = self._entries.get(project_id)
            if entry is not None and entry.index is index:
                entry.measured = own
        used = own + self._used_by_others(project_id)
        if used <= self.settings.memory:
            return
        log.warning(
            "the index of project %s grew past the memory budget (%s of %s bytes); answering "
            "it through SQL. Raise SEGMINT_INDEX_MEMORY to index it.",
            project_id,
            f"{used:,}",
            f"{self.settings.memory:,}",
        )
        self._set(project_id, _Entry(State.OVER_BUDGET, error=f"grew to {used:,} bytes"))

    def failed(self, project_id: int, error: BaseException) -> None:
        """An answer failed inside the index: drop it (answers go to SQL) and build anew."""
        log.exception("index of project %s failed; answering through SQL", project_id)
        with self._lock:
            self._entries.pop(project_id, None)

    def _start_builder(self) -> None:
        if self._builder is None or not self._builder.is_alive():
            self._builder = threading.Thread(
                target=self._build_queued, name="segmint-index-build", daemon=True
            )
            self._start(self._builder)

    def _build_queued(self) -> None:
        while not self._closed.is_set():
            try:
                project_id = self._queue.get(timeout=1)
            except queue.Empty:
                return
            if not self._closed.is_set():
                self._build(project_id)

    def _used_by_others(self, project_id: int) -> int:
        """What the other projects' indexes held when last measured: a sum over the entries,
        not a walk of every column of every project before each answer."""
        with self._lock:
            return sum(e.measured for p, e in self._entries.items() if p != project_id)

    def _build(self, project_id: int) -> None:
        started = time.perf_counter()
        index = ProjectIndex(project_id)
        budget = self.settings.memory - self._used_by_others(project_id)
        log.info("building the index of project %s", project_id)
        try:
            index.build(self.engine, budget, loading.log_progress(project_id))
        except loading.OverBudget as exc:
            log.warning(
                "project %s does not fit the index's memory budget (%s); answering it through "
                "SQL. Raise SEGMINT_INDEX_MEMORY to index it.",
                project_id,
                exc,
            )
            self._set(project_id, _Entry(State.OVER_BUDGET, error=str(exc)))
            return
        except Exception as exc:  # a failed build must never take answers down: SQL answers
            log.exception("building the index of project %s failed", project_id)
            self._set(project_id, _Entry(State.FAILED, error=str(exc)))
            return
        self._warm(index)
        _return_freed_memory()
        seconds = time.perf_counter() - started
        measured = index.nbytes()
        log.info(
            "index of project %s ready: %s leads, %s events, %.1f MB, %.1f s",
            project_id,
            f"{len(index.leads):,}",
            f"{len(index.events):,}",
            measured / 1e6,
            seconds,
        )
        self._set(project_id, _Entry(State.READY, index, seconds, measured=measured))

    def _warm(self, index: ProjectIndex) -> None:
        """Evaluate each stored segment once, so the JSON paths, lists and frozen members they
        name are loaded now, in the background, rather than by a user's first request."""
        try:
            with self.engine.connect() as conn:
                project = get_project_by_id(conn, index.project_id)
                rows = conn.execute(
                    sa.select(segments.c.id, segments.c.filter, segments.c.active).where(
                        segments.c.project_id == index.project_id,
                        segments.c.audience == "leads",  # the index declines account segments
                    )
                ).all()
            source = MemorySegmentSource({row.id: row.filter for row in rows})
            now = datetime.now(UTC)
            with index.reading(self.engine) as reader:
                for row in rows:
                    audience = (
                        Audience((parse_filter(row.filter, project),))
                        if row.active
                        else Audience(members=(("segment", row.id),))
                    )
                    reader.select(audience, project, now, source)
        except Exception:  # only a head start: a segment it cannot read is read when asked
            log.warning("warming the index of project %s stopped early", index.project_id)

    def _set(self, project_id: int, entry: _Entry) -> None:
        with self._lock:
            if project_id in self._entries:  # not forgotten meanwhile
                self._entries[project_id] = entry

    def status(self) -> dict[str, Any]:
        """For /healthz and the bench: the budget, what is used, and each project's state."""
        with self._lock:
            entries = dict(self._entries)
        projects = {}
        for project_id, entry in sorted(entries.items()):
            item: dict[str, Any] = {"state": entry.state.value}
            if entry.index is not None:
                item.update(
                    leads=len(entry.index.leads),
                    events=len(entry.index.events),
                    bytes=entry.index.nbytes(),
                    build_seconds=round(entry.build_seconds or 0, 3),
                )
            if entry.error:
                item["error"] = entry.error
            projects[str(project_id)] = item
        used = sum(e.index.nbytes() for e in entries.values() if e.index is not None)
        return {
            "enabled": True,
            "memory_budget_bytes": self.settings.memory,
            "memory_used_bytes": used,
            "projects": projects,
        }


_ATTACHED: weakref.WeakKeyDictionary[sa.Engine, Indexes] = weakref.WeakKeyDictionary()


def attach(engine: sa.Engine, settings: Settings | None = None) -> Indexes | None:
    """Give this process's answers over `engine` an index (None when turned off)."""
    settings = settings or Settings.from_env()
    if not settings.enabled:
        _ATTACHED.pop(engine, None)
        return None
    indexes = _ATTACHED.get(engine)
    if indexes is None or indexes.settings != settings:
        indexes = _ATTACHED[engine] = Indexes(engine, settings)
    return indexes


def detach(engine: sa.Engine) -> None:
    _ATTACHED.pop(engine, None)


def indexes_for(engine: sa.Engine) -> Indexes | None:
    return _ATTACHED.get(engine)


def _return_freed_memory() -> None:
    """Give the memory a build used and freed (its batches of rows) back to the system: glibc
    keeps it for the process otherwise, about 150 MB at a million leads. Elsewhere, nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
