"""Account segments are maintained: their stored members and history, keyed by account as
segment_members and membership_history are by lead; the webhook queue says which of the two
histories each queued change is a row of.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "account_segment_members",
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("segment_id", BigId, nullable=False),
        sa.Column("account_id", BigId, nullable=False),
        sa.Column("entered_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint(
            "project_id", "segment_id", "account_id", name="pk_account_segment_members"
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "segment_id"],
            ["segments.project_id", "segments.id"],
            name="fk_account_segment_members_segment",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "account_id"],
            ["accounts.project_id", "accounts.id"],
            name="fk_account_segment_members_account",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_account_segment_members_project_id_account_id",
        "account_segment_members",
        ["project_id", "account_id"],
    )
    op.create_table(
        "account_membership_history",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("segment_id", BigId, nullable=False),
        sa.Column("account_id", BigId, nullable=False),
        sa.Column("change", sa.String(8), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("segment_version", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_account_membership_history"),
        sa.CheckConstraint(
            "change in ('entered', 'exited')", name="ck_account_membership_history_change"
        ),
    )
    op.create_index(
        "ix_account_membership_history_project_id_segment_id_at_id",
        "account_membership_history",
        ["project_id", "segment_id", "at", "id"],
    )
    op.create_index(
        "ix_account_membership_history_project_id_account_id_at",
        "account_membership_history",
        ["project_id", "account_id", "at"],
    )
    with op.batch_alter_table("webhook_queue") as batch:
        batch.add_column(
            sa.Column("audience", sa.String(16), nullable=False, server_default="leads")
        )
    # Active account segments were answered live only: their first full sync records who is
    # in them now (reason `activation`), as activating a lead segment does.
    _resync_active_account_segments()


def _resync_active_account_segments() -> None:
    bind = op.get_bind()
    segments = sa.table(
        "segments",
        sa.column("project_id", BigId),
        sa.column("id", BigId),
        sa.column("audience", sa.String),
        sa.column("active", sa.Boolean),
    )
    work_items = sa.table(
        "work_items",
        sa.column("project_id", BigId),
        sa.column("kind", sa.String),
        sa.column("payload", Json),
        sa.column("created_at", Timestamp),
    )
    found = bind.execute(
        sa.select(segments.c.project_id, segments.c.id).where(
            segments.c.audience == "accounts", segments.c.active.is_(True)
        )
    ).all()
    now = datetime.now(UTC)
    for project_id, segment_id in found:
        payload = {"segment_id": segment_id, "reason": "activation"}
        bind.execute(
            work_items.insert().values(
                project_id=project_id, kind="segment", payload=payload, created_at=now
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_queue") as batch:
        batch.drop_column("audience")
    op.drop_table("account_membership_history")
    op.drop_table("account_segment_members")
