"""PostgreSQL: an expression index on the enrichment path person.location.state.

The help pages' geographic pattern ("United States" and a state among CA, NY, TX) had only the
country indexed: 400,000 US leads were folded and compared one by one (4x the hand-written
statement). The expression is the one the filter compiler emits for a JSON text path, as in
migration 0006.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = "(enrichment #> '{person,location,state}'::text[])"
STATE = (
    f"nullif(segmint_fold(CASE WHEN jsonb_typeof({_AT}) = 'string' THEN {_AT} #>> '{{}}' END), '')"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_leads_filter_person_state ON leads (project_id, {STATE})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_leads_filter_person_state")
