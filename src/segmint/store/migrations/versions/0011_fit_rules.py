"""Profile fit: rules (a filter over lead and account fields, and points) and fit levels; how
accounts roll their leads' scores up (max or sum).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fit_rules",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "project_id",
            BigId,
            sa.ForeignKey("projects.id", ondelete="CASCADE", name="fk_fit_rules_project_id"),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("filter", Json, nullable=False),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fit_rules"),
    )
    op.create_index("ix_fit_rules_project_id", "fit_rules", ["project_id"])
    with op.batch_alter_table("scoring_settings") as batch:
        batch.add_column(sa.Column("fit_levels", Json))
        batch.add_column(
            sa.Column("account_rollup", sa.String(8), nullable=False, server_default="max")
        )


def downgrade() -> None:
    with op.batch_alter_table("scoring_settings") as batch:
        batch.drop_column("account_rollup")
        batch.drop_column("fit_levels")
    op.drop_table("fit_rules")
