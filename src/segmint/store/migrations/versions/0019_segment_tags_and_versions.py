"""Segment tags, and every saved version of a segment's definition.

Until now a segment kept only a version number. Each segment's current definition becomes its
version 1 here; who saved it is known only when it was never changed after its creation (its
creator), else left unknown (null) rather than guessed.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def _of_segment(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id", "segment_id"],
        ["segments.project_id", "segments.id"],
        name=f"fk_{table}_segment",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "segment_tags",
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("segment_id", BigId, nullable=False),
        sa.Column("tag", sa.String(50), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "segment_id", "tag", name="pk_segment_tags"),
        _of_segment("segment_tags"),
    )
    op.create_index("ix_segment_tags_project_id_tag", "segment_tags", ["project_id", "tag"])
    op.create_table(
        "segment_versions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("segment_id", BigId, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("filter_version", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(500), server_default="", nullable=False),
        sa.Column("filter", Json, nullable=False),
        sa.Column("restored_from", sa.Integer),
        sa.Column("created_by", BigId),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_segment_versions"),
        sa.UniqueConstraint(
            "project_id",
            "segment_id",
            "number",
            name="uq_segment_versions_project_id_segment_id_number",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name="fk_segment_versions_created_by", ondelete="SET NULL"
        ),
        _of_segment("segment_versions"),
    )
    op.execute(
        "INSERT INTO segment_versions (project_id, segment_id, number, filter_version, name,"
        " description, filter, created_by, created_at)"
        " SELECT project_id, id, 1, version, name, description, filter,"
        " CASE WHEN updated_at = created_at THEN created_by END, updated_at FROM segments"
    )


def downgrade() -> None:
    op.drop_table("segment_versions")
    op.drop_index("ix_segment_tags_project_id_tag", table_name="segment_tags")
    op.drop_table("segment_tags")
