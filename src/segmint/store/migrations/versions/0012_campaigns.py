"""Campaigns: mail settings, campaigns, their runs and each run's frozen recipients.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", BigId, autoincrement=True, nullable=False)


def _created_by(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["created_by"], ["users.id"], name=f"fk_{table}_created_by", ondelete="SET NULL"
    )


def _project(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"], ["projects.id"], name=f"fk_{table}_project_id", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "mail_settings",
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("host", sa.String(255)),
        sa.Column("port", sa.Integer, server_default="587", nullable=False),
        sa.Column("username", sa.String(255)),
        sa.Column("password", sa.String(255)),
        sa.Column("security", sa.String(8), server_default="starttls", nullable=False),
        sa.Column("from_email", sa.String(320)),
        sa.Column("from_name", sa.String(255)),
        sa.Column("reply_to", sa.String(320)),
        sa.Column("rate_per_minute", sa.Integer, server_default="600", nullable=False),
        sa.Column("public_url", sa.String(2000)),
        sa.Column("tracking_secret", sa.String(128), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "security in ('none', 'starttls', 'tls')", name="ck_mail_settings_security"
        ),
        _project("mail_settings"),
        sa.PrimaryKeyConstraint("project_id", name="pk_mail_settings"),
    )
    op.create_table(
        "campaigns",
        _id(),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(500), server_default="", nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("include_segments", Json, nullable=False),
        sa.Column("exclude_segments", Json, nullable=False),
        sa.Column("include_lists", Json, nullable=False),
        sa.Column("exclude_lists", Json, nullable=False),
        sa.Column("filter", Json),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text, server_default="", nullable=False),
        sa.Column("body", sa.Text, server_default="", nullable=False),
        sa.Column("webhook_url", sa.String(2000)),
        sa.Column("webhook_secret", sa.String(128)),
        sa.Column("schedule", sa.String(8), nullable=False),
        sa.Column("send_at", Timestamp),
        sa.Column("cron", sa.String(120)),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("next_run_at", Timestamp),
        sa.Column("resend", sa.String(16), nullable=False),
        sa.Column("resend_after_days", sa.Integer),
        sa.Column("created_by", BigId),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        _created_by("campaigns"),
        _project("campaigns"),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
        sa.UniqueConstraint("project_id", "id", name="uq_campaigns_project_id_id"),
    )
    op.create_index(
        "ix_campaigns_project_id_state_next_run_at",
        "campaigns",
        ["project_id", "state", "next_run_at"],
    )
    op.create_table(
        "campaign_runs",
        _id(),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("scheduled_for", Timestamp, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_by", BigId),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.String(1000)),
        sa.Column("frozen_at", Timestamp),
        sa.Column("finished_at", Timestamp),
        sa.Column("audience", sa.Integer),
        sa.Column("skipped_already_sent", sa.Integer),
        sa.Column("skipped_unsubscribed", sa.Integer),
        sa.Column("skipped_no_email", sa.Integer),
        sa.Column("consecutive_failures", sa.Integer, server_default="0", nullable=False),
        sa.Column("next_attempt_at", Timestamp),
        sa.Column("leased_by", sa.String(64)),
        sa.Column("leased_until", Timestamp),
        _created_by("campaign_runs"),
        sa.ForeignKeyConstraint(
            ["project_id", "campaign_id"],
            ["campaigns.project_id", "campaigns.id"],
            name="fk_campaign_runs_campaign",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_campaign_runs"),
        sa.UniqueConstraint(
            "project_id",
            "campaign_id",
            "scheduled_for",
            name="uq_campaign_runs_project_id_campaign_id_scheduled_for",
        ),
        sa.UniqueConstraint("project_id", "id", name="uq_campaign_runs_project_id_id"),
    )
    op.create_table(
        "campaign_recipients",
        _id(),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, server_default="0", nullable=False),
        sa.Column("next_attempt_at", Timestamp),
        sa.Column("leased_by", sa.String(64)),
        sa.Column("leased_until", Timestamp),
        sa.Column("last_error", sa.String(1000)),
        sa.Column("sent_at", Timestamp),
        sa.ForeignKeyConstraint(
            ["project_id", "run_id"],
            ["campaign_runs.project_id", "campaign_runs.id"],
            name="fk_campaign_recipients_run",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_campaign_recipients"),
        sa.UniqueConstraint(
            "project_id",
            "run_id",
            "lead_id",
            name="uq_campaign_recipients_project_id_run_id_lead_id",
        ),
    )
    op.create_index(
        "ix_campaign_recipients_project_id_campaign_id_lead_id_state",
        "campaign_recipients",
        ["project_id", "campaign_id", "lead_id", "state"],
    )
    op.create_index(
        "ix_campaign_recipients_project_id_run_id_state_id",
        "campaign_recipients",
        ["project_id", "run_id", "state", "id"],
    )


def downgrade() -> None:
    op.drop_table("campaign_recipients")
    op.drop_table("campaign_runs")
    op.drop_table("campaigns")
    op.drop_table("mail_settings")
