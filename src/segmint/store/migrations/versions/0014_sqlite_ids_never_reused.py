"""SQLite: ids are never reused (AUTOINCREMENT), as PostgreSQL's sequences never reuse them.

Without AUTOINCREMENT SQLite gives a new row the largest id + 1, so deleting the newest segment
and creating another handed the new one the old id: its membership history and the webhooks
already sent for the old one then named the new segment. SQLite cannot add AUTOINCREMENT to a
table, so each table whose ids are referred to from elsewhere is rebuilt (the documented
twelve steps: foreign keys are off during migrations, see env.py). PostgreSQL: nothing to do.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

import re
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose ids users, other rows, history or webhook payloads refer to. Append-only logs
# (events, history, attempts, the outbox) are left as they are: nothing refers to their ids.
TABLES = (
    "organizations",
    "users",
    "projects",
    "api_tokens",
    "accounts",
    "leads",
    "custom_fields",
    "segments",
    "lists",
    "webhooks",
    "scoring_rules",
    "fit_rules",
    "campaigns",
    "campaign_runs",
)

# Ids that history keeps after their rows were deleted: the sequence starts past them too.
REFERENCED_FROM_HISTORY = {
    "segments": ("membership_history", "segment_id"),
    "leads": ("membership_history", "lead_id"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        _rebuild_with_autoincrement(table)


def downgrade() -> None:
    """AUTOINCREMENT stays: an id that was never reused is still a valid id."""


def _rebuild_with_autoincrement(table: str) -> None:
    bind = op.get_bind()
    create, *dependents = (
        row.sql
        for row in bind.execute(
            text(
                "SELECT sql FROM sqlite_master WHERE tbl_name = :table AND sql IS NOT NULL "
                "ORDER BY type = 'table' DESC"
            ),
            {"table": table},
        )
    )
    if "AUTOINCREMENT" in create:
        return
    new = f"{table}__autoincrement"
    bind.execute(text(_autoincrement_sql(create, table, new)))
    copy = f'INSERT INTO "{new}" SELECT * FROM "{table}"'  # noqa: S608 (names from TABLES)
    bind.execute(text(copy))
    bind.execute(text(f'DROP TABLE "{table}"'))  # its indexes and triggers go with it
    bind.execute(text(f'ALTER TABLE "{new}" RENAME TO "{table}"'))
    for statement in dependents:
        bind.execute(text(statement))
    if table in REFERENCED_FROM_HISTORY:
        _start_past_history(table, *REFERENCED_FROM_HISTORY[table])


def _autoincrement_sql(create: str, table: str, new: str) -> str:
    """The table's CREATE statement under the new name, its primary key on the id column."""
    constraint = f"CONSTRAINT pk_{table} PRIMARY KEY (id)"
    if constraint not in create:
        raise RuntimeError(f"unexpected primary key in {table}: {create}")
    sql = re.sub(r",\s*" + re.escape(constraint), "", create, count=1)
    sql, found = re.subn(
        r"\(\s*id INTEGER NOT NULL,",
        f"(id INTEGER NOT NULL CONSTRAINT pk_{table} PRIMARY KEY AUTOINCREMENT,",
        sql,
        count=1,
    )
    if not found:
        raise RuntimeError(f"unexpected id column in {table}: {create}")
    return re.sub(rf'^CREATE TABLE "?{table}"? \(', f'CREATE TABLE "{new}" (', sql, count=1)


def _start_past_history(table: str, history: str, column: str) -> None:
    bind = op.get_bind()
    query = f'SELECT max("{column}") FROM "{history}"'  # noqa: S608 (names from this module)
    highest = bind.execute(text(query)).scalar()
    if highest is None:
        return
    current = bind.execute(
        text("SELECT seq FROM sqlite_sequence WHERE name = :table"), {"table": table}
    ).scalar()
    if current is None:
        bind.execute(
            text("INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :seq)"),
            {"table": table, "seq": highest},
        )
    elif current < highest:
        bind.execute(
            text("UPDATE sqlite_sequence SET seq = :seq WHERE name = :table"),
            {"table": table, "seq": highest},
        )
