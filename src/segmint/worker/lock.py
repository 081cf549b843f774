"""SQLite runs one worker: a second one on the same database file is refused.

Not for throughput (SQLite has one writer at a time, so a second worker adds none) but for
correctness: the SQLite driver opens a transaction at its first write, so the reads a sync
makes its decisions from (who enters, who leaves) are not isolated from another worker's
writes, and two workers syncing one segment could both record the same lead leaving.
PostgreSQL locks what workers share (items, segment rows) and runs any number of them.

The lock is an exclusive `flock` on `<database>-worker.lock`, held for as long as the worker
runs. The operating system drops it when the holder's process ends, however it ends (a
kill -9 included), so a stale lock never stops a restart; the file itself stays, naming its
last holder.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TextIO

from sqlalchemy.engine import Engine

from segmint.errors import Conflict


class AnotherWorkerRunning(Conflict):
    """A worker already runs on this SQLite database."""


class WorkerLock:
    """Held while a worker runs; `release` (or leaving the `with` block) lets another start."""

    def __init__(self, file: TextIO | None = None) -> None:
        self._file = file

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the lock
            self._file = None

    def __enter__(self) -> WorkerLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def lock_path(engine: Engine) -> Path | None:
    """The lock file beside a SQLite database file; None for PostgreSQL or in-memory SQLite."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    database = database.removeprefix("file:").split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    return Path(database).resolve().with_name(Path(database).name + "-worker.lock")


def lock_sole_worker(engine: Engine, holder: str) -> WorkerLock:
    """Take the database's worker lock for `holder` (a worker name), or raise
    AnotherWorkerRunning. Needs none (and takes none) on PostgreSQL."""
    path = lock_path(engine)
    if path is None:
        return WorkerLock()
    try:
        import fcntl
    except ImportError:  # no flock (Windows): running one worker is left to the operator
        return WorkerLock()
    file = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        other = file.read().strip() or "unknown"
        file.close()
        raise AnotherWorkerRunning(
            f"another worker ({other}) is running on this SQLite database: SQLite runs one "
            "worker, and `segmint serve` runs one unless --no-worker (PostgreSQL runs several)"
        ) from None
    file.seek(0)
    file.truncate()
    file.write(holder + "\n")
    file.flush()
    return WorkerLock(file)
