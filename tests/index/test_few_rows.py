"""Event conditions answered for a few lead rows (a worker's sync of the leads just written, an
AND's last candidates) follow only those leads' events and chains: what they answer at those
rows is what the whole table's answer holds there."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy.engine import Engine

from segmint.engine import filtering
from segmint.engine.filtering import StoredSegments
from segmint.index import Audience, ProjectIndex
from segmint.index.feed import snapshot
from segmint.projects import Project
from tests.filters.harness import LeadSpec, insert_leads

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
TYPES = ("signup", "call", "click")
CONDITIONS = [
    {"event": "call", "within_days": 30, "min_distinct_days": 2},
    {"event": "call", "within_days": 30, "aggregate": {"fn": "sum", "path": "n", "op": "gte",
                                                       "value": 5}},
    {"sequence": [{"event": "signup"}, {"event": "call"}, {"event": "click"}]},
    {"sequence": [{"event": "signup"}, {"event": "call"}], "within_days": 3, "since_days": 20},
    {"sequence": [{"event": "signup"}, {"event": "call"}], "within_days": 10,
     "not_between": {"event": "click"}},
]  # fmt: skip


def _leads(count: int) -> list[LeadSpec]:
    rng = random.Random(7)
    specs = []
    for _ in range(count):
        events = [
            {
                "type": rng.choice(TYPES),
                "occurred_at": NOW - timedelta(days=rng.uniform(0, 25)),
                "metadata": {"n": rng.randint(0, 4)},
            }
            for _ in range(rng.randint(0, 9))
        ]
        specs.append(LeadSpec({}, events=events))
    return specs


def test_a_few_rows_get_the_whole_tables_answer(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        insert_leads(conn, project.id, _leads(96))
    index = ProjectIndex(project.id)
    with snapshot(db) as conn:
        index.load(conn)
    with db.connect() as conn, index.read_for(conn) as reader:
        source = StoredSegments(conn, project.id)
        for condition in CONDITIONS:
            audience = Audience((filtering.load(project, condition),))
            whole = reader.select(audience, project, NOW, source)
            assert 0 < whole.sum() < len(whole), condition  # the data tells leads apart
            for rows in ([0, 5, 9, 40, 95], [int(r) for r in whole.nonzero()[0][:5]]):
                few = reader.select(audience, project, NOW, source, rows=_array(rows))
                assert few.tolist() == whole[rows].tolist(), condition


def _array(rows: list[int]) -> np.ndarray:
    return np.asarray(rows, np.int64)
