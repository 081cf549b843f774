"""When each active segment was last brought up to date with the passing of time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("segments") as batch:
        batch.add_column(sa.Column("time_synced_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("segments") as batch:
        batch.drop_column("time_synced_at")
