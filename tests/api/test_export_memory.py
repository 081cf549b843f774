"""An export of 100,000 members streams in bounded memory, with every row, on both databases."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from segmint.store.bulk import insert_rows
from segmint.store.tables import leads
from tests.api.conftest import Api

MEMBERS = 100_000


def _insert_leads(db: Engine, project_id: int) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        {
            "project_id": project_id,
            "email": f"lead{i}@example.test",
            "first_name": "Lead",
            "last_name": str(i),
            "company": f"Company {i % 977}, Inc",
            "status": "new" if i < MEMBERS else "contacted",
            "tags": [],
            "custom": {},
            "created_at": start + timedelta(seconds=i),
            "updated_at": start,
        }
        for i in range(MEMBERS + 1000)
    ]
    with db.begin() as conn:  # COPY on PostgreSQL: row by row took over a minute
        insert_rows(conn, leads, rows)


@pytest.mark.slow
def test_export_of_100k_members_streams_in_bounded_memory(api: Api, db: Engine) -> None:
    _insert_leads(db, api.project.id)
    segment = api.post(
        "segments", json={"name": "New", "filter": {"field": "status", "op": "eq", "value": "new"}}
    ).json()
    assert segment["member_count"] == MEMBERS
    lines = 0
    size = 0
    tracemalloc.start()
    try:
        with api.client.stream(
            "GET",
            f"/api/v1/projects/default/segments/{segment['id']}/export.csv",
            headers={"Authorization": f"Bearer {api.tokens['owner']}"},
        ) as response:
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
                size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == MEMBERS + 1  # the header and every member: no 10,000 cap
    assert size > 5_000_000
    assert peak < 25_000_000, f"export held {peak / 1e6:.1f} MB at its peak"
