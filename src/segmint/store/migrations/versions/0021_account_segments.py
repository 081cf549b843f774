"""Account segments: a segment's members are leads ("leads") or accounts ("accounts"), fixed
when it is created.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("segments") as batch:
        batch.add_column(
            sa.Column("audience", sa.String(16), nullable=False, server_default="leads")
        )


def downgrade() -> None:
    with op.batch_alter_table("segments") as batch:
        batch.drop_column("audience")
