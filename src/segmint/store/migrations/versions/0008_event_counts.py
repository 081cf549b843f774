"""Per-lead event counters: how many events of each type a lead has, first and last.

Kept by triggers on `events`, so every way events arrive (the API, imports, COPY, tests that
insert rows directly) and leave keeps them exact, in the same transaction. PostgreSQL counts a
whole statement's rows at once (transition tables, so a 1,000-row COPY is one upsert per lead
and type); SQLite, which has only row triggers, one row at a time.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

PG_FUNCTIONS = """
CREATE FUNCTION segmint_count_added_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO lead_event_counts AS c (project_id, lead_id, type, total, first_at, last_at)
  SELECT project_id, lead_id, type, count(*), min(occurred_at), max(occurred_at)
  FROM added GROUP BY project_id, lead_id, type
  ON CONFLICT (project_id, lead_id, type) DO UPDATE
  SET total = c.total + excluded.total,
      first_at = least(c.first_at, excluded.first_at),
      last_at = greatest(c.last_at, excluded.last_at);
  RETURN NULL;
END $$;

CREATE FUNCTION segmint_count_removed_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Subtract, then drop counters left at zero; first/last are recomputed from what remains.
  UPDATE lead_event_counts AS c
  SET total = c.total - r.n,
      first_at = coalesce((SELECT min(e.occurred_at) FROM events e
                           WHERE e.project_id = c.project_id AND e.lead_id = c.lead_id
                           AND e.type = c.type), c.first_at),
      last_at = coalesce((SELECT max(e.occurred_at) FROM events e
                          WHERE e.project_id = c.project_id AND e.lead_id = c.lead_id
                          AND e.type = c.type), c.last_at)
  FROM (SELECT project_id, lead_id, type, count(*) AS n FROM removed
        GROUP BY project_id, lead_id, type) AS r
  WHERE c.project_id = r.project_id AND c.lead_id = r.lead_id AND c.type = r.type;
  DELETE FROM lead_event_counts WHERE total <= 0;
  RETURN NULL;
END $$;

CREATE TRIGGER events_counted AFTER INSERT ON events
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT
  EXECUTE FUNCTION segmint_count_added_events();

CREATE TRIGGER events_uncounted AFTER DELETE ON events
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT
  EXECUTE FUNCTION segmint_count_removed_events();
"""

SQLITE_TRIGGERS = (
    """
CREATE TRIGGER events_counted AFTER INSERT ON events BEGIN
  INSERT INTO lead_event_counts (project_id, lead_id, type, total, first_at, last_at)
  VALUES (NEW.project_id, NEW.lead_id, NEW.type, 1, NEW.occurred_at, NEW.occurred_at)
  ON CONFLICT (project_id, lead_id, type) DO UPDATE
  SET total = total + 1,
      first_at = min(first_at, excluded.first_at),
      last_at = max(last_at, excluded.last_at);
END
""",
    """
CREATE TRIGGER events_uncounted AFTER DELETE ON events BEGIN
  UPDATE lead_event_counts
  SET total = total - 1,
      first_at = coalesce((SELECT min(occurred_at) FROM events WHERE project_id = OLD.project_id
                           AND lead_id = OLD.lead_id AND type = OLD.type), first_at),
      last_at = coalesce((SELECT max(occurred_at) FROM events WHERE project_id = OLD.project_id
                          AND lead_id = OLD.lead_id AND type = OLD.type), last_at)
  WHERE project_id = OLD.project_id AND lead_id = OLD.lead_id AND type = OLD.type;
  DELETE FROM lead_event_counts
  WHERE project_id = OLD.project_id AND lead_id = OLD.lead_id AND type = OLD.type AND total <= 0;
END
""",
)

BACKFILL = """
INSERT INTO lead_event_counts (project_id, lead_id, type, total, first_at, last_at)
SELECT project_id, lead_id, type, count(*), min(occurred_at), max(occurred_at)
FROM events GROUP BY project_id, lead_id, type
"""


def upgrade() -> None:
    op.create_table(
        "lead_event_counts",
        sa.Column(
            "project_id",
            BigId,
            sa.ForeignKey(
                "projects.id", ondelete="CASCADE", name="fk_lead_event_counts_project_id"
            ),
            nullable=False,
        ),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("first_at", Timestamp, nullable=False),
        sa.Column("last_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("project_id", "lead_id", "type", name="pk_lead_event_counts"),
        sa.ForeignKeyConstraint(
            ["project_id", "lead_id"],
            ["leads.project_id", "leads.id"],
            name="fk_lead_event_counts_lead",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_lead_event_counts_project_id_type_total_lead_id",
        "lead_event_counts",
        ["project_id", "type", "total", "lead_id"],
    )
    op.execute(BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTIONS)
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS events_counted" + _on_events())
    op.execute("DROP TRIGGER IF EXISTS events_uncounted" + _on_events())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS segmint_count_added_events()")
        op.execute("DROP FUNCTION IF EXISTS segmint_count_removed_events()")
    op.drop_table("lead_event_counts")


def _on_events() -> str:
    return " ON events" if op.get_bind().dialect.name == "postgresql" else ""
