"""Manual membership: leads included in or excluded from a segment by hand, beside its filter.

A segment's members are `(filter or included) and not excluded`. One row per segment and lead,
`kind` saying which: including an excluded lead turns its row around, so a lead is never both.
Rows follow the segment and the lead (composite foreign keys, ON DELETE CASCADE), and feed the
columnar index's change feed like list members do (kind `manual_member`, container the segment).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPERATIONS = ("INSERT", "UPDATE", "DELETE")

PG_FUNCTION = """
CREATE FUNCTION segmint_feed_manual_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO index_changes (project_id, kind, object_id, container_id, xid)
  SELECT project_id, 'manual_member', lead_id, segment_id, pg_current_xact_id()::text::bigint
  FROM changed;
  RETURN NULL;
END $$;
"""


def _pg_trigger(operation: str) -> str:
    transition = "OLD" if operation == "DELETE" else "NEW"
    return (
        f"CREATE TRIGGER manual_members_fed_{operation.lower()} AFTER {operation} "
        f"ON manual_members REFERENCING {transition} TABLE AS changed FOR EACH STATEMENT "
        "EXECUTE FUNCTION segmint_feed_manual_members()"
    )


def _sqlite_trigger(operation: str) -> str:
    row = "OLD" if operation == "DELETE" else "NEW"
    return f"""
CREATE TRIGGER manual_members_fed_{operation.lower()} AFTER {operation} ON manual_members BEGIN
  INSERT INTO index_changes (project_id, kind, object_id, container_id)
  VALUES ({row}.project_id, 'manual_member', {row}.lead_id, {row}.segment_id);
END
"""  # noqa: S608 (no input: OLD or NEW)


def upgrade() -> None:
    op.create_table(
        "manual_members",
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("segment_id", BigId, nullable=False),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "segment_id", "lead_id", name="pk_manual_members"),
        sa.ForeignKeyConstraint(
            ["project_id", "segment_id"],
            ["segments.project_id", "segments.id"],
            name="fk_manual_members_segment",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "lead_id"],
            ["leads.project_id", "leads.id"],
            name="fk_manual_members_lead",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("kind in ('include', 'exclude')", name="ck_manual_members_kind"),
    )
    op.create_index(
        "ix_manual_members_project_id_lead_id", "manual_members", ["project_id", "lead_id"]
    )
    op.create_index(
        "ix_manual_members_project_id_segment_id_kind_lead_id",
        "manual_members",
        ["project_id", "segment_id", "kind", "lead_id"],
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(PG_FUNCTION)
    for operation in OPERATIONS:
        op.execute(_pg_trigger(operation) if postgres else _sqlite_trigger(operation))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for operation in OPERATIONS:
        on = " ON manual_members" if postgres else ""
        op.execute(f"DROP TRIGGER IF EXISTS manual_members_fed_{operation.lower()}{on}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS segmint_feed_manual_members()")
    op.drop_table("manual_members")
