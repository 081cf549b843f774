"""EXPLAIN (ANALYZE, BUFFERS) of each suite case's count, Segmint's and the hand-written one, as
PostgreSQL runs them: the evidence behind docs/performance.md."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from segmint.bench.runner import segment_ids
from segmint.bench.suite import CASES
from segmint.clock import SYSTEM_CLOCK
from segmint.engine import filtering
from segmint.projects import Project
from segmint.store.tables import leads

OPTIONS = "ANALYZE, BUFFERS"


@contextmanager
def explaining(conn: sa.Connection, options: str = OPTIONS) -> Iterator[None]:
    """Statements run on `conn` inside the block return their plans instead of their rows:
    exactly the SQL and parameters SQLAlchemy sends, with nothing re-typed by hand."""

    def prefix(*args: Any) -> tuple[str, Any]:
        statement, parameters = args[2], args[3]
        return f"EXPLAIN ({options}) {statement}" if options else f"EXPLAIN {statement}", parameters

    event.listen(conn, "before_cursor_execute", prefix, retval=True)
    try:
        yield
    finally:
        event.remove(conn, "before_cursor_execute", prefix)


def plans(engine: Engine, project: Project) -> Iterator[tuple[str, str, str]]:
    """(case, Segmint's plan, the hand-written statement's plan) for each case."""
    now = SYSTEM_CLOCK.now()
    with engine.connect() as conn:
        ids = segment_ids(conn, project)
        for case in CASES:
            tree = filtering.validate(conn, project, case.filter_in(ids), reader=None)
            query = sa.select(sa.func.count()).where(
                leads.c.project_id == project.id, filtering.condition(conn, project, tree, now)
            )
            params = case.params(project.id, now, ids)
            with explaining(conn):
                ours = "\n".join(str(row[0]) for row in conn.execute(query))
                rows = conn.execute(sa.text(case.postgres_sql), params)
                theirs = "\n".join(str(row[0]) for row in rows)
            yield case.name, ours, theirs
