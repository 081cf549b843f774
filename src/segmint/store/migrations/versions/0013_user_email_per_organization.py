"""A user's email is unique within its organization, not across the installation: adding a user
must not tell one organization which emails another one has.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_email", type_="unique")
        batch.create_unique_constraint(
            "uq_users_organization_id_email", ["organization_id", "email"]
        )
    op.create_index("ix_users_email", "users", ["email"])  # log-in looks users up by email


def downgrade() -> None:
    op.drop_index("ix_users_email", "users")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_organization_id_email", type_="unique")
        batch.create_unique_constraint("uq_users_email", ["email"])
