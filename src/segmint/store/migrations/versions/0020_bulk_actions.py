"""Bulk actions: one action over many leads, done by the worker in batches, with its progress and
who asked for it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bulk_actions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "project_id",
            BigId,
            sa.ForeignKey("projects.id", ondelete="CASCADE", name="fk_bulk_actions_project_id"),
            nullable=False,
        ),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("params", Json, nullable=False),
        sa.Column("selection", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("processed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("changed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_lead_id", BigId, nullable=False, server_default="0"),
        sa.Column("max_lead_id", BigId, nullable=False),
        sa.Column("error", sa.String(1000)),
        sa.Column(
            "created_by",
            BigId,
            sa.ForeignKey("users.id", ondelete="SET NULL", name="fk_bulk_actions_created_by"),
        ),
        sa.Column("created_by_email", sa.String(320)),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("started_at", Timestamp),
        sa.Column("finished_at", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_bulk_actions"),
        sa.UniqueConstraint("project_id", "id", name="uq_bulk_actions_project_id_id"),
        sa.CheckConstraint(
            "state in ('queued', 'running', 'done', 'failed', 'cancelled')",
            name="ck_bulk_actions_state",
        ),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("bulk_actions")
