"""Statement timeouts: a request's (the API's limit) and a background transaction's (the
worker's), on PostgreSQL with its own settings and on SQLite with a progress handler, which is
its only way to interrupt a statement. Below every layer that runs statements, so the API and
the worker share them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from segmint.store.db import env_number


def limit_statements(conn: sa.Connection, seconds: float) -> None:
    """Cancel this connection's statements that run longer than `seconds`, until
    release_statements (a request's: it outlives the short transaction authentication commits)."""
    if seconds <= 0:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET statement_timeout = {int(seconds * 1000)}")
        return
    _interrupt_after(conn, seconds)


def release_statements(conn: sa.Connection) -> None:
    """The connection goes back to the pool: no limit follows it. Call it outside a failed
    transaction (after its rollback)."""
    if conn.dialect.name == "sqlite":
        _stop_interrupting(conn)
    elif not conn.invalidated:
        conn.exec_driver_sql("RESET statement_timeout")


@contextmanager
def bounded_transaction(
    engine: sa.Engine, seconds: float, lock_seconds: float = 0.0
) -> Iterator[sa.Connection]:
    """A transaction whose statements are cancelled past `seconds` and whose lock waits give up
    past `lock_seconds` (PostgreSQL; SQLite has one writer and its busy timeout): background
    work that must fail, not run for minutes holding locks, when a plan goes wrong."""
    with engine.connect() as conn:
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    _set_local(conn, "statement_timeout", seconds)
                    _set_local(conn, "lock_timeout", lock_seconds)
                elif seconds > 0:
                    _interrupt_after(conn, seconds)
                yield conn
        finally:
            if conn.dialect.name == "sqlite":
                _stop_interrupting(conn)


def _set_local(conn: sa.Connection, setting: str, seconds: float) -> None:
    """Until the transaction ends; 0 turns the limit off, as PostgreSQL reads it."""
    conn.exec_driver_sql(f"SET LOCAL {setting} = {max(int(seconds * 1000), 0)}")


def _interrupt_after(conn: sa.Connection, seconds: float) -> None:
    """SQLite has no statement timeout: a progress handler interrupts whatever runs past the
    deadline."""
    raw: Any = conn.connection.dbapi_connection
    deadline = time.monotonic() + seconds

    def too_long() -> int:  # called every N SQLite instructions: non-zero interrupts
        return 1 if time.monotonic() > deadline else 0

    raw.set_progress_handler(too_long, 10_000)


def _stop_interrupting(conn: sa.Connection) -> None:
    raw: Any = conn.connection.dbapi_connection
    raw.set_progress_handler(None, 0)


def timed_out(error: sa.exc.OperationalError) -> bool:
    """Was this a statement cancelled by its timeout (or interrupted on SQLite)?"""
    return getattr(error.orig, "sqlstate", None) == "57014" or "interrupted" in str(error.orig)


@dataclass(frozen=True)
class WorkerLimits:
    """How long one background statement may run, and wait for a lock, before it is cancelled
    and its work item (or segment sweep) fails, to be retried later: a plan gone wrong (no
    statistics after a bulk load) must not hold locks for minutes, nor hold up other projects."""

    statement_timeout: float = 60.0  # seconds; 0: none
    lock_timeout: float = 10.0  # seconds (PostgreSQL); 0: none

    @classmethod
    def from_env(cls) -> WorkerLimits:
        """`SEGMINT_WORKER_STATEMENT_TIMEOUT` and `SEGMINT_WORKER_LOCK_TIMEOUT` (seconds)."""
        default = cls()
        return cls(
            env_number("SEGMINT_WORKER_STATEMENT_TIMEOUT", default.statement_timeout),
            env_number("SEGMINT_WORKER_LOCK_TIMEOUT", default.lock_timeout),
        )

    def transaction(self, engine: sa.Engine) -> AbstractContextManager[sa.Connection]:
        """A background transaction under these limits."""
        return bounded_transaction(engine, self.statement_timeout, self.lock_timeout)
