"""Engagement scoring: rules (points per event type, optional where, cap and decay), the
project's engagement levels, and each lead's score history.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def _project(table: str) -> sa.Column[int]:
    return sa.Column(
        "project_id",
        BigId,
        sa.ForeignKey("projects.id", ondelete="CASCADE", name=f"fk_{table}_project_id"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "scoring_rules",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        _project("scoring_rules"),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("where", Json),
        sa.Column("cap", sa.Float),
        sa.Column("decay", sa.String(8), nullable=False, server_default="none"),
        sa.Column("decay_days", sa.Integer),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scoring_rules"),
        sa.CheckConstraint("decay in ('none', 'halve', 'expire')", name="ck_scoring_rules_decay"),
    )
    op.create_index(
        "ix_scoring_rules_project_id_event_type", "scoring_rules", ["project_id", "event_type"]
    )
    op.create_table(
        "scoring_settings",
        sa.Column(
            "project_id",
            BigId,
            sa.ForeignKey("projects.id", ondelete="CASCADE", name="fk_scoring_settings_project_id"),
            nullable=False,
        ),
        sa.Column("engagement_levels", Json, nullable=False),
        sa.Column("swept_at", Timestamp),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_scoring_settings"),
    )
    op.create_table(
        "score_history",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        _project("score_history"),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_score_history"),
        sa.ForeignKeyConstraint(
            ["project_id", "lead_id"],
            ["leads.project_id", "leads.id"],
            name="fk_score_history_lead",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_score_history_project_id_lead_id_at", "score_history", ["project_id", "lead_id", "at"]
    )


def downgrade() -> None:
    op.drop_table("score_history")
    op.drop_table("scoring_settings")
    op.drop_table("scoring_rules")
