"""Every lead holds an engagement level. Leads were given one only when rescored, so a lead
with no scored event had none, and "Engagement level is Cold" missed it while the scoring page
counted it as Cold. New leads now get theirs when written; this asks the worker to sweep the
projects whose leads lack one (swept_at cleared, a settings row with the default levels added
where a project had none), which writes every lead's level from its score.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)
# engine/scoring.py's DEFAULT_LEVELS as they are today (a migration keeps its own copy).
DEFAULT_LEVELS = [
    {"name": "Cold", "min": 0},
    {"name": "Warm", "min": 25},
    {"name": "Hot", "min": 50},
    {"name": "Very Hot", "min": 75},
]

leads = sa.table("leads", sa.column("project_id"), sa.column("engagement_level"))
settings = sa.table(
    "scoring_settings",
    sa.column("project_id"),
    sa.column("engagement_levels", Json),
    sa.column("swept_at", Timestamp),
    sa.column("updated_at", Timestamp),
)


def upgrade() -> None:
    conn = op.get_bind()
    lacking = sa.select(leads.c.project_id).where(leads.c.engagement_level.is_(None)).distinct()
    projects = [row.project_id for row in conn.execute(lacking)]
    if not projects:
        return
    known = {
        row.project_id
        for row in conn.execute(
            sa.select(settings.c.project_id).where(settings.c.project_id.in_(projects))
        )
    }
    now = datetime.now(UTC)
    new_rows = [
        {"project_id": p, "engagement_levels": DEFAULT_LEVELS, "swept_at": None, "updated_at": now}
        for p in projects
        if p not in known
    ]
    if new_rows:
        conn.execute(settings.insert(), new_rows)
    conn.execute(settings.update().where(settings.c.project_id.in_(projects)).values(swept_at=None))


def downgrade() -> None:
    pass  # levels written stay: they are what the scores give
