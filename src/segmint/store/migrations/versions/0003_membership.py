"""Maintained membership of active segments, its history, and the outbox of work.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "segment_members",
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("segment_id", BigId, nullable=False),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("entered_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("project_id", "segment_id", "lead_id", name="pk_segment_members"),
        sa.ForeignKeyConstraint(
            ["project_id", "segment_id"],
            ["segments.project_id", "segments.id"],
            name="fk_segment_members_segment",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "lead_id"],
            ["leads.project_id", "leads.id"],
            name="fk_segment_members_lead",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_segment_members_project_id_lead_id", "segment_members", ["project_id", "lead_id"]
    )
    op.create_table(
        "membership_history",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("segment_id", BigId, nullable=False),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("change", sa.String(8), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("segment_version", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_membership_history"),
        sa.CheckConstraint("change in ('entered', 'exited')", name="ck_membership_history_change"),
    )
    op.create_index(
        "ix_membership_history_project_id_segment_id_at_id",
        "membership_history",
        ["project_id", "segment_id", "at", "id"],
    )
    op.create_index(
        "ix_membership_history_project_id_lead_id_at",
        "membership_history",
        ["project_id", "lead_id", "at"],
    )
    op.create_table(
        "work_items",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claimed_until", Timestamp),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(1000)),
        sa.PrimaryKeyConstraint("id", name="pk_work_items"),
    )
    op.create_index("ix_work_items_project_id_id", "work_items", ["project_id", "id"])


def downgrade() -> None:
    op.drop_table("work_items")
    op.drop_table("membership_history")
    op.drop_table("segment_members")
