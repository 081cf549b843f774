"""A build reads its events beside the leads, on a second connection in the same snapshot, and
through its own connection when no second one is free: the same index either way."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from segmint.index import ProjectIndex
from segmint.projects import Project
from segmint.store.db import create_engine
from segmint.store.tables import events
from tests.filters.harness import LeadSpec, insert_leads

NOW = datetime(2026, 1, 10, tzinfo=UTC)


def _events(index: ProjectIndex) -> list[tuple[int, int, int, int]]:
    table = index.events
    lead_ids = index.leads.ids.ids.live[table.lead_rows]
    return list(
        zip(
            table.ids.tolist(),
            lead_ids.tolist(),
            table.sorted_types().tolist(),
            table.at.tolist(),
            strict=True,
        )
    )


def test_events_read_beside_or_not_are_the_same(
    db: Engine, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    with db.begin() as conn:
        specs = [
            LeadSpec(events=[{"type": t, "occurred_at": NOW} for t in ("b", "a", "b")]),
            LeadSpec(events=[{"type": "c", "occurred_at": datetime(2025, 5, 1, tzinfo=UTC)}]),
        ]
        insert_leads(conn, project.id, specs)
    beside = ProjectIndex(project.id)
    beside.build(db)
    assert "read on one connection" not in caplog.text
    # a pool of one: no second connection is asked for (none is free, and waiting for one
    # would hold the build's own meanwhile), the events are read through the build's own
    alone = ProjectIndex(project.id)
    if db.dialect.name == "postgresql":
        single = create_engine(db.url, pool_size=1, max_overflow=0, pool_timeout=30)
        try:
            started = time.monotonic()
            alone.build(single)
            assert time.monotonic() - started < 10  # not the pool's timeout, waited out
        finally:
            single.dispose()
        assert "read on one connection" not in caplog.text
    else:
        alone.build(db)
    assert _events(beside) == _events(alone)
    assert len(beside.events) == 4
    assert beside.events.type_codes == alone.events.type_codes == {"a": 0, "b": 1, "c": 2}


def test_events_written_during_a_build_are_left_to_the_catch_up(
    db: Engine, project: Project
) -> None:
    """The second connection reads in the build's snapshot, not a later one."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite reads the events through the build's own connection")
    with db.begin() as conn:
        (lead_id,) = insert_leads(
            conn, project.id, [LeadSpec(events=[{"type": "a", "occurred_at": NOW}])]
        )
    index = ProjectIndex(project.id)
    real_load = index.load

    def load_after_a_write(*args: object, **kwargs: object) -> None:
        with db.begin() as conn:  # committed after the snapshot was taken, before events are read
            row = {"project_id": project.id, "lead_id": lead_id, "type": "a", "metadata": {}}
            conn.execute(events.insert().values(occurred_at=NOW, created_at=NOW, **row))
        real_load(*args, **kwargs)  # type: ignore[arg-type]

    index.load = load_after_a_write  # type: ignore[method-assign]
    index.build(db)
    assert len(index.events) == 1
    with db.connect() as conn:
        assert index.catch_up(conn) == 1
    assert len(index.events) == 2
    assert np.unique(index.events.tail_ids.live).size == 1
