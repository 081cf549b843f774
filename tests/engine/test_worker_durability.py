"""Durable work: the outbox commits with its write, a killed worker loses and repeats nothing,
several workers on PostgreSQL share the outbox without overlap, SQLite runs one worker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from segmint.engine import outbox
from segmint.projects import Project
from segmint.store.tables import work_items
from segmint.worker import Worker, worker_name


def test_worker_names_fit_the_claim_column_whatever_the_host_name(
    db: Engine, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 63-character host name (a Kubernetes pod's may be) made every claim fail on
    PostgreSQL: the name did not fit `claimed_by`."""
    monkeypatch.setattr("socket.gethostname", lambda: "segmint-worker-" + "x" * 48)
    names = {worker_name() for _ in range(20)}
    assert len(names) == 20  # unique even in one process and thread
    assert max(len(n) for n in names) <= work_items.c.claimed_by.type.length
    with db.begin() as conn:
        outbox.enqueue(
            conn, project.id, outbox.Kind.LIST, {"list_id": 1, "lead_ids": []}, datetime.now(UTC)
        )
    assert Worker(db).drain() == 1
    with pytest.raises(ValueError):
        Worker(db, name="n" * 65)
