"""A webhook attempt lists its account segments' changes apart: a batch carries changes of
lead and account segments in queue order, and their histories (membership_history,
account_membership_history) number their rows apart, so one list of ids was ambiguous.
`history_ids` keeps the lead segments' changes (all an attempt logged before this revision
carried), `account_history_ids` the account segments'.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("webhook_attempts") as batch:
        batch.add_column(
            sa.Column("account_history_ids", Json, nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_attempts") as batch:
        batch.drop_column("account_history_ids")
