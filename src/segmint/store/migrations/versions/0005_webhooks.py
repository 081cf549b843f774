"""Webhooks on membership changes: subscriptions, the queue of unacknowledged changes, the log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def _webhook_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id", "webhook_id"],
        ["webhooks.project_id", "webhooks.id"],
        name=f"fk_{table}_webhook",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "project_id",
            BigId,
            sa.ForeignKey("projects.id", ondelete="CASCADE", name="fk_webhooks_project_id"),
            nullable=False,
        ),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", Json, nullable=False),
        sa.Column("segment_id", BigId),
        sa.Column("description", sa.String(500), nullable=False, server_default=""),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column(
            "created_by",
            BigId,
            sa.ForeignKey("users.id", ondelete="SET NULL", name="fk_webhooks_created_by"),
        ),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", Timestamp),
        sa.Column("leased_by", sa.String(64)),
        sa.Column("leased_until", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        sa.UniqueConstraint("project_id", "id", name="uq_webhooks_project_id_id"),
        sa.ForeignKeyConstraint(
            ["project_id", "segment_id"],
            ["segments.project_id", "segments.id"],
            name="fk_webhooks_segment",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "webhook_queue",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("webhook_id", BigId, nullable=False),
        sa.Column("history_id", BigId, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_queue"),
        _webhook_fk("webhook_queue"),
    )
    op.create_index(
        "ix_webhook_queue_project_id_webhook_id_id",
        "webhook_queue",
        ["project_id", "webhook_id", "id"],
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("webhook_id", BigId, nullable=False),
        sa.Column("attempted_at", Timestamp, nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("succeeded", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.String(1000)),
        sa.Column("history_ids", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
        _webhook_fk("webhook_attempts"),
    )
    op.create_index(
        "ix_webhook_attempts_project_id_webhook_id_id",
        "webhook_attempts",
        ["project_id", "webhook_id", "id"],
    )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_queue")
    op.drop_table("webhooks")
