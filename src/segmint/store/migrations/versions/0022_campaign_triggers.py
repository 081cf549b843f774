"""Entry-triggered campaigns: a campaign's trigger (a segment's entries or exits), the one
pending send each recorded entry or exit makes, and what a triggered run skipped.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("trigger", Json))
    with op.batch_alter_table("campaign_runs") as batch:
        batch.add_column(sa.Column("skipped_capped", sa.Integer))
        batch.add_column(sa.Column("skipped_membership", sa.Integer))
    op.create_table(
        "campaign_trigger_sends",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("history_id", BigId, nullable=False),
        sa.Column("segment_id", BigId, nullable=False),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("change", sa.String(8), nullable=False),
        sa.Column("happened_at", Timestamp, nullable=False),
        sa.Column("due_at", Timestamp, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("skip_reason", sa.String(32)),
        sa.Column("run_id", BigId),
        sa.Column("decided_at", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_campaign_trigger_sends"),
        sa.ForeignKeyConstraint(
            ["project_id", "campaign_id"],
            ["campaigns.project_id", "campaigns.id"],
            name="fk_campaign_trigger_sends_campaign",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "project_id",
            "campaign_id",
            "history_id",
            name="uq_campaign_trigger_sends_project_id_campaign_id_history_id",
        ),
        sa.CheckConstraint(
            "state in ('pending', 'queued', 'skipped')", name="ck_campaign_trigger_sends_state"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_campaign_trigger_sends_project_id_state_due_at",
        "campaign_trigger_sends",
        ["project_id", "state", "due_at"],
    )
    op.create_index(
        "ix_campaign_trigger_sends_project_id_campaign_id_lead_id",
        "campaign_trigger_sends",
        ["project_id", "campaign_id", "lead_id"],
    )


def downgrade() -> None:
    op.drop_table("campaign_trigger_sends")
    with op.batch_alter_table("campaign_runs") as batch:
        batch.drop_column("skipped_membership")
        batch.drop_column("skipped_capped")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("trigger")
