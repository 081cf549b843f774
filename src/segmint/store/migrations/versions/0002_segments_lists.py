"""Segments, static lists and list members.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def _owned(table: str) -> list[sa.schema.SchemaItem]:
    """Columns and constraints every project-owned, user-created object has."""
    return [
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_by", BigId),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=f"fk_{table}_project_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=f"fk_{table}_created_by", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("project_id", "id", name=f"uq_{table}_project_id_id"),
    ]


def upgrade() -> None:
    op.create_table(
        "segments",
        *_owned("segments"),
        sa.Column("color", sa.String(7), nullable=False, server_default="#4f46e5"),
        sa.Column("filter", Json, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("last_evaluated_at", Timestamp),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_index("ix_segments_project_id_created_by", "segments", ["project_id", "created_by"])
    op.create_table(
        "lists",
        *_owned("lists"),
        sa.Column("filter", Json),
        sa.Column("source_segment_id", BigId),
    )
    op.create_table(
        "list_members",
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("list_id", BigId, nullable=False),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("added_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("project_id", "list_id", "lead_id", name="pk_list_members"),
        sa.ForeignKeyConstraint(
            ["project_id", "list_id"],
            ["lists.project_id", "lists.id"],
            name="fk_list_members_list",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "lead_id"],
            ["leads.project_id", "leads.id"],
            name="fk_list_members_lead",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_list_members_project_id_lead_id", "list_members", ["project_id", "lead_id"])


def downgrade() -> None:
    op.drop_table("list_members")
    op.drop_table("lists")
    op.drop_table("segments")
