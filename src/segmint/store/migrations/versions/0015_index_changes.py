"""The change feed the columnar index catches up from: one row per lead, event, account or
membership written or deleted, recorded by triggers in the writing transaction.

Triggers, not application code, so that every way data arrives (the API, imports, COPY, the
bench, tests inserting rows) is seen. On PostgreSQL each row also records the writing
transaction's id (`xid`): ids are taken before commit, so transactions commit out of id order,
and a reader that only remembered the highest id seen would skip a slower transaction's rows.
The index remembers instead which transactions its last snapshot could not yet see (see
index/feed.py). SQLite has one writer at a time, so there ids are in commit order.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# (table, kind recorded, object id column, container id column, operations)
FEEDS = (
    ("leads", "lead", "id", None, ("INSERT", "UPDATE", "DELETE")),
    ("events", "event", "id", None, ("INSERT",)),
    ("accounts", "account", "id", None, ("INSERT", "UPDATE", "DELETE")),
    ("list_members", "list_member", "lead_id", "list_id", ("INSERT", "UPDATE", "DELETE")),
    ("segment_members", "segment_member", "lead_id", "segment_id", ("INSERT", "UPDATE", "DELETE")),
)


def _pg_function(table: str, kind: str, object_id: str, container: str | None) -> str:
    container_value = container or "NULL"
    return f"""
CREATE FUNCTION segmint_feed_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO index_changes (project_id, kind, object_id, container_id, xid)
  SELECT project_id, '{kind}', {object_id}, {container_value}, pg_current_xact_id()::text::bigint
  FROM changed;
  RETURN NULL;
END $$;
"""  # noqa: S608 (names from FEEDS)


def _pg_trigger(table: str, operation: str) -> str:
    transition = "OLD" if operation == "DELETE" else "NEW"
    return (
        f"CREATE TRIGGER {table}_fed_{operation.lower()} AFTER {operation} ON {table} "
        f"REFERENCING {transition} TABLE AS changed FOR EACH STATEMENT "
        f"EXECUTE FUNCTION segmint_feed_{table}()"
    )


def _sqlite_trigger(
    table: str, kind: str, object_id: str, container: str | None, operation: str
) -> str:
    row = "OLD" if operation == "DELETE" else "NEW"
    container_value = f"{row}.{container}" if container else "NULL"
    return f"""
CREATE TRIGGER {table}_fed_{operation.lower()} AFTER {operation} ON {table} BEGIN
  INSERT INTO index_changes (project_id, kind, object_id, container_id)
  VALUES ({row}.project_id, '{kind}', {row}.{object_id}, {container_value});
END
"""  # noqa: S608 (names from FEEDS)


def upgrade() -> None:
    op.create_table(
        "index_changes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("object_id", BigId, nullable=False),
        sa.Column("container_id", BigId),
        sa.Column("xid", sa.BigInteger),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.current_timestamp(),
        ),
        sa.PrimaryKeyConstraint("id", name="pk_index_changes"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_index_changes_project_id_xid", "index_changes", ["project_id", "xid"])
    op.create_index("ix_index_changes_project_id_id", "index_changes", ["project_id", "id"])
    op.create_index(
        "ix_index_changes_project_id_recorded_at", "index_changes", ["project_id", "recorded_at"]
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, kind, object_id, container, operations in FEEDS:
        if postgres:
            op.execute(_pg_function(table, kind, object_id, container))
        for operation in operations:
            if postgres:
                op.execute(_pg_trigger(table, operation))
            else:
                op.execute(_sqlite_trigger(table, kind, object_id, container, operation))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, _kind, _object_id, _container, operations in FEEDS:
        for operation in operations:
            on = f" ON {table}" if postgres else ""
            op.execute(f"DROP TRIGGER IF EXISTS {table}_fed_{operation.lower()}{on}")
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS segmint_feed_{table}()")
    op.drop_table("index_changes")
