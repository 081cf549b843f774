"""The typed rows of store/rows.py have exactly their tables' columns, null where the column
may be, and read back from both databases."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.projects import Project
from segmint.store import rows, tables

ROWS: dict[type[rows.Record], tuple[sa.Table, dict[str, bool]]] = {
    # record: (its table, extra fields from a join and whether they may be null)
    rows.SegmentRow: (tables.segments, {}),
    rows.SegmentWithCreator: (tables.segments, {"created_by_email": True}),
    rows.LeadRow: (tables.leads, {}),
    rows.AccountRow: (tables.accounts, {}),
    rows.ListRow: (tables.lists, {}),
    rows.WebhookRow: (tables.webhooks, {}),
    rows.CampaignRow: (tables.campaigns, {}),
    rows.CampaignWithCreator: (tables.campaigns, {"created_by_email": True}),
    rows.CampaignRunRow: (tables.campaign_runs, {}),
    rows.RecipientRow: (tables.campaign_recipients, {}),
    rows.RecipientWithCampaign: (tables.campaign_recipients, {"campaign_name": False}),
    rows.BulkActionRow: (tables.bulk_actions, {}),
}


@pytest.mark.parametrize("record", list(ROWS), ids=lambda r: r.__name__)
def test_a_record_has_its_tables_columns(record: type[rows.Record]) -> None:
    table, extra = ROWS[record]
    hints = typing.get_type_hints(record)
    fields = [f.name for f in dataclasses.fields(record)]
    assert fields == [c.name for c in table.columns] + list(extra)
    expected = {c.name: bool(c.nullable) for c in table.columns} | extra
    nullable = {name: types.NoneType in typing.get_args(hints[name]) for name in fields}
    assert nullable == expected


def test_a_row_reads_back_as_its_record(db: Engine, project: Project) -> None:
    at = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    with db.begin() as conn:
        conn.execute(
            tables.leads.insert().values(
                project_id=project.id,
                email="ada@example.com",
                tags=["vip"],
                custom={},
                created_at=at,
                updated_at=at,
            )
        )
        row = conn.execute(sa.select(tables.leads)).one()
    lead = rows.LeadRow.of(row)
    assert (lead.email, lead.tags, lead.engagement_score) == ("ada@example.com", ["vip"], 0)
    assert lead.created_at == at and lead.last_activity_at is None


def test_stored_json_reads_back_exactly(db: Engine, project: Project) -> None:
    """Stored JSON is read by orjson, and by json.loads what orjson refuses (an integer past
    64 bits, which jsonb and SQLite's text keep): every value comes back as it was written."""
    from segmint.engine import leads
    from segmint.ingest import upsert_leads

    enrichment = {"big": 2**70, "neg": -(2**64), "half": 0.5, "text": "é\u2028", "list": [1, None]}
    upsert_leads(db, project, enumerate([{"email": "a@x.test", "enrichment": enrichment}]))
    with db.connect() as conn:
        row = conn.execute(sa.select(tables.leads).where(tables.leads.c.email == "a@x.test")).one()
    assert leads.public(row)["enrichment"] == enrichment
