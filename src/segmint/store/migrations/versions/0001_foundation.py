"""Foundation: organizations, users, tokens, projects, accounts, leads, events, custom fields.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "organizations",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
    )
    op.create_table(
        "users",
        _id(),
        sa.Column("organization_id", BigId, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("last_login_at", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_users_organization_id",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("email", name="uq_users_email"),
        sa.CheckConstraint("role in ('owner', 'admin', 'member')", name="ck_users_role"),
    )
    op.create_table(
        "projects",
        _id(),
        sa.Column("organization_id", BigId, nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("statuses", Json, nullable=False),
        sa.Column("converted_status", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_projects_organization_id",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("organization_id", "slug", name="uq_projects_organization_id_slug"),
    )
    op.create_table(
        "api_tokens",
        _id(),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("project_id", BigId),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("last_used_at", Timestamp),
        sa.Column("revoked_at", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_api_tokens_project_id", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("prefix", name="uq_api_tokens_prefix"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_table(
        "accounts",
        _id(),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("domain", sa.String(255)),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("engagement_level", sa.String(64)),
        sa.Column("profile_level", sa.String(64)),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_accounts_project_id", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("project_id", "id", name="uq_accounts_project_id_id"),
    )
    op.create_index("ix_accounts_project_id_domain", "accounts", ["project_id", "domain"])
    op.create_index("ix_accounts_project_id_name", "accounts", ["project_id", "name"])

    op.create_table(
        "leads",
        _id(),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("email", sa.String(320)),
        *(sa.Column(name, sa.String(1000)) for name in ("first_name", "last_name", "phone")),
        sa.Column("phone_type", sa.String(16)),
        sa.Column("company", sa.String(1000)),
        sa.Column("job_title", sa.String(1000)),
        sa.Column("status", sa.String(64)),
        sa.Column("source", sa.String(1000)),
        sa.Column("owner", sa.String(320)),
        sa.Column("tags", Json, nullable=False),
        *(
            sa.Column(name, sa.String(1000))
            for name in ("country", "language", "priority", "group_name")
        ),
        sa.Column("engagement_score", sa.Float, nullable=False, server_default="0"),
        sa.Column("max_score", sa.Float, nullable=False, server_default="0"),
        sa.Column("engagement_level", sa.String(64)),
        sa.Column("profile_level", sa.String(64)),
        sa.Column("custom", Json, nullable=False),
        sa.Column("enrichment", Json),
        sa.Column("account_id", BigId),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("last_contacted_at", Timestamp),
        sa.Column("last_activity_at", Timestamp),
        sa.PrimaryKeyConstraint("id", name="pk_leads"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_leads_project_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "account_id"],
            ["accounts.project_id", "accounts.id"],
            name="fk_leads_account",
        ),
        sa.UniqueConstraint("project_id", "id", name="uq_leads_project_id_id"),
        sa.UniqueConstraint("project_id", "email", name="uq_leads_project_id_email"),
    )
    for columns in (
        ["project_id", "created_at", "id"],
        ["project_id", "status"],
        ["project_id", "source"],
        ["project_id", "account_id"],
        ["project_id", "last_activity_at"],
    ):
        op.create_index("ix_leads_" + "_".join(columns), "leads", columns)

    op.create_table(
        "events",
        _id(),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("occurred_at", Timestamp, nullable=False),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_events_project_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "lead_id"],
            ["leads.project_id", "leads.id"],
            name="fk_events_lead",
            ondelete="CASCADE",
        ),
    )
    for columns in (
        ["project_id", "lead_id", "type", "occurred_at"],
        ["project_id", "type", "occurred_at", "lead_id"],
    ):
        op.create_index("ix_events_" + "_".join(columns), "events", columns)

    op.create_table(
        "custom_fields",
        _id(),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("options", Json, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_custom_fields"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name="fk_custom_fields_project_id",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("project_id", "key", name="uq_custom_fields_project_id_key"),
        sa.CheckConstraint(
            "type in ('text', 'number', 'date', 'boolean', 'select')",
            name="ck_custom_fields_type",
        ),
    )


def downgrade() -> None:
    for table in (
        "custom_fields",
        "events",
        "leads",
        "accounts",
        "api_tokens",
        "projects",
        "users",
        "organizations",
    ):
        op.drop_table(table)
