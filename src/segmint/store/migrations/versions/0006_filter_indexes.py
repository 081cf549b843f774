"""PostgreSQL: the filter language's folding as SQL functions, and indexes on what filters ask.

Filters compare folded text (`nullif(segmint_fold(status), '')`), not the raw column, so a plain
index on `status` never serves them: these expression indexes are written exactly as the filter
compiler (filters/dialects.py) emits its expressions, and a test EXPLAINs the compiled queries to
keep the two in step. Trigram and GIN indexes need the pg_trgm and btree_gin extensions (trusted:
a database owner may create them); without them those indexes are skipped and the queries still
work, by scanning.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What Python's str.strip() removes after NFKC (filters/dialects.PY_WHITESPACE, as code points).
_WHITESPACE = "".join(
    chr(c)
    for c in (
        *range(0x09, 0x0E),
        *range(0x1C, 0x21),
        0x85,
        0xA0,
        0x1680,
        *range(0x2000, 0x200B),
        0x2028,
        0x2029,
        0x202F,
        0x205F,
        0x3000,
    )
)

# ASCII text (octets = characters) takes a short path: NFKC leaves it as it is and it has no ß
# or ς, so lower(btrim()) is the same answer at a third of the cost; normalize() dominates.
FOLD = f"""
CREATE OR REPLACE FUNCTION segmint_fold(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN octet_length(value) = length(value)
              THEN lower(btrim(value, '{_WHITESPACE}'))
              ELSE translate(replace(lower(btrim(normalize(value, NFKC), '{_WHITESPACE}')),
                                     'ß', 'ss'), 'ς', 'σ')
         END
$$
"""

# The folded strings of a JSON array (anything else: no elements), for has_any / has_all.
FOLD_ELEMENTS = """
CREATE OR REPLACE FUNCTION segmint_fold_elements(value jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(jsonb_agg(segmint_fold(element #>> '{}')), '[]'::jsonb)
  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(value) = 'array' THEN value
                                 ELSE '[]'::jsonb END) AS element
  WHERE jsonb_typeof(element) = 'string'
$$
"""


def _text(expr: str) -> str:
    return f"nullif(segmint_fold({expr}), '')"


def _json_text(path: str) -> str:
    at = f"(enrichment #> '{{{path}}}'::text[])"
    return _text(f"CASE WHEN jsonb_typeof({at}) = 'string' THEN {at} #>> '{{}}' END")


def _json_number(path: str) -> str:
    at = f"(enrichment #> '{{{path}}}'::text[])"
    return f"(CASE WHEN jsonb_typeof({at}) = 'number' THEN CAST({at} AS DOUBLE PRECISION) END)"


TRIGRAMS = ("btree_gin", "pg_trgm")  # btree_gin: project_id leads every index, GIN ones too

# name -> (method, expression after project_id, extensions it needs). The standard columns
# segments filter on most, and the enrichment paths of the contract's data model.
INDEXES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "ix_leads_filter_status": ("btree", _text("status"), ()),
    "ix_leads_filter_source": ("btree", _text("source"), ()),
    "ix_leads_filter_owner": ("btree", _text("owner"), ()),
    "ix_leads_filter_country": ("btree", _text("country"), ()),
    "ix_leads_filter_company_size": ("btree", _json_number("company,size"), ()),
    "ix_leads_filter_company_industry": ("btree", _json_text("company,industry"), ()),
    "ix_leads_filter_seniority": ("btree", _json_text("person,seniority_level"), ()),
    "ix_leads_filter_person_country": ("btree", _json_text("person,location,country"), ()),
    "ix_leads_filter_company_trgm": ("gin", f"{_text('company')} gin_trgm_ops", TRIGRAMS),
    "ix_leads_filter_job_title_trgm": ("gin", f"{_text('job_title')} gin_trgm_ops", TRIGRAMS),
    "ix_leads_filter_tags": ("gin", "segmint_fold_elements(tags)", ("btree_gin",)),
}


def _extension(name: str) -> bool:
    """Create the extension if we may; False if this server or role cannot."""
    bind = op.get_bind()
    if bind.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = :name"), {"name": name}
    ).first():
        return True
    savepoint = bind.begin_nested()
    try:
        bind.execute(text(f'CREATE EXTENSION IF NOT EXISTS "{name}"'))
    except Exception:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def upgrade() -> None:
    # The plain indexes these replace, on both databases: filters never compare the raw column.
    op.drop_index("ix_leads_project_id_status", "leads")
    op.drop_index("ix_leads_project_id_source", "leads")
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite registers segmint_fold per connection (store/db.py); no such indexes
    op.execute(FOLD)
    op.execute(FOLD_ELEMENTS)
    available: dict[str, bool] = {}
    for name, (method, expression, extensions) in INDEXES.items():
        for extension in extensions:
            if extension not in available:
                available[extension] = _extension(extension)
        if all(available[extension] for extension in extensions):
            op.execute(f"CREATE INDEX {name} ON leads USING {method} (project_id, {expression})")


def downgrade() -> None:
    op.create_index("ix_leads_project_id_status", "leads", ["project_id", "status"])
    op.create_index("ix_leads_project_id_source", "leads", ["project_id", "source"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP FUNCTION IF EXISTS segmint_fold_elements(jsonb)")
    op.execute("DROP FUNCTION IF EXISTS segmint_fold(text)")
