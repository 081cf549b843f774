"""PostgreSQL: GIN indexes on the folded string elements of the indexed enrichment paths.

`eq` and `in` on an untyped JSON path now also match an array by its elements (docs/filters.md),
compiled as `<folded text> = x OR segmint_fold_elements(path) ?| x`. The B-tree expression index
of migrations 0006 and 0009 serves the first half only, and PostgreSQL uses an index for an OR
only when every branch has one: without these, `industry = "SaaS"` scanned every lead of the
project. With them the planner ORs two bitmap scans. Like the tags index, they need btree_gin
(project_id leads every index); without it they are skipped and the queries still answer.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> the path, as the filter compiler writes it (filters/dialects._pg_at).
PATHS = {
    "ix_leads_filter_company_industry_elements": "company,industry",
    "ix_leads_filter_seniority_elements": "person,seniority_level",
    "ix_leads_filter_person_country_elements": "person,location,country",
    "ix_leads_filter_person_state_elements": "person,location,state",
}


def _expression(path: str) -> str:
    return f"segmint_fold_elements(enrichment #> '{{{path}}}'::text[])"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    has_btree_gin = bind.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'btree_gin'")
    ).first()
    if not has_btree_gin:
        return  # migration 0006 could not create it here: no GIN index with project_id either
    for name, path in PATHS.items():
        op.execute(f"CREATE INDEX {name} ON leads USING gin (project_id, {_expression(path)})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in PATHS:
            op.execute(f"DROP INDEX IF EXISTS {name}")
