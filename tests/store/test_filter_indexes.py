"""PostgreSQL's expression indexes (migration 0006) serve the expressions the filter compiler
emits: an index is used only for an identical expression, so a change to either side that
breaks the match fails here, not silently in production."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.bench.explain import explaining
from segmint.engine import filtering
from segmint.filters.dialects import PY_WHITESPACE
from segmint.projects import Project
from segmint.store.bulk import insert_rows
from segmint.store.tables import leads

CASES: list[tuple[dict[str, Any], str]] = [
    ({"field": "status", "op": "eq", "value": "New"}, "ix_leads_filter_status"),
    ({"field": "source", "op": "in", "value": ["apollo_search", "web"]}, "ix_leads_filter_source"),
    ({"field": "country", "op": "eq", "value": "DE"}, "ix_leads_filter_country"),
    ({"field": "owner", "op": "eq", "value": "a@acme.test"}, "ix_leads_filter_owner"),
    (
        {"field": "enrichment.company.size", "op": "gte", "value": 50},
        "ix_leads_filter_company_size",
    ),
    (
        {"field": "enrichment.company.industry", "op": "in", "value": ["SaaS", "Technology"]},
        "ix_leads_filter_company_industry",
    ),
    (
        {"field": "enrichment.person.seniority_level", "op": "eq", "value": "C-Suite"},
        "ix_leads_filter_seniority",
    ),
    (
        {"field": "enrichment.person.location.country", "op": "eq", "value": "United States"},
        "ix_leads_filter_person_country",
    ),
    (
        {"field": "enrichment.person.location.state", "op": "in", "value": ["CA", "NY"]},
        "ix_leads_filter_person_state",
    ),
    ({"field": "company", "op": "contains", "value": "son"}, "ix_leads_filter_company_trgm"),
    (
        {"field": "job_title", "op": "contains", "value": ["Director", "VP"]},
        "ix_leads_filter_job_title_trgm",
    ),
    ({"field": "tags", "op": "has_all", "value": ["VIP", "enterprise"]}, "ix_leads_filter_tags"),
    ({"field": "tags", "op": "has_any", "value": ["vip", "Partner"]}, "ix_leads_filter_tags"),
]


# `eq` / `in` on these paths also match an array's elements (an OR): the B-tree index serves
# the text, the GIN index of migration 0017 the elements, and the plan must use both.
ELEMENT_INDEXES = {
    "ix_leads_filter_company_industry": "ix_leads_filter_company_industry_elements",
    "ix_leads_filter_seniority": "ix_leads_filter_seniority_elements",
    "ix_leads_filter_person_country": "ix_leads_filter_person_country_elements",
    "ix_leads_filter_person_state": "ix_leads_filter_person_state_elements",
}


@pytest.mark.parametrize(("tree", "index"), CASES, ids=[index for _, index in CASES])
def test_compiled_filters_use_the_expression_indexes(
    db: Engine, project: Project, tree: dict[str, Any], index: str
) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("expression indexes are PostgreSQL's (SQLite scans)")
    _fill(db, project)
    with db.begin() as conn:
        node = filtering.validate(conn, project, tree, reader=None)
        query = sa.select(sa.func.count()).where(
            leads.c.project_id == project.id,
            filtering.condition(conn, project, node, datetime.now(UTC)),
        )
        missing = _missing_extensions(conn, index)
        if missing:
            # A server without the extension (pgserver's build, a managed server that refuses
            # it): the migration must have left the index out, and the filter still answers.
            assert index not in _filter_indexes(conn), missing
            assert conn.execute(query).scalar_one() == 0
            return
        # Only this filter index is left (dropped in this transaction, rolled back after), and
        # scans are made costly: the plan names the index if, and only if, it can serve the
        # compiled expression.
        wanted = {index, ELEMENT_INDEXES[index]} if index in ELEMENT_INDEXES else {index}
        wanted &= _filter_indexes(conn)  # the GIN half needs btree_gin, as the tags index does
        for other in _filter_indexes(conn) - wanted:
            conn.exec_driver_sql(f'DROP INDEX "{other}"')
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = _explain(conn, query)
        conn.rollback()
    assert wanted, index
    for name in wanted:
        assert re.search(rf"Index Scan (using|on) {name}\b", plan), plan
    if len(wanted) == 2:  # each branch of the OR through its own index, not a filter on top
        assert "BitmapOr" in plan, plan


def _fill(db: Engine, project: Project) -> None:
    """Enough ordinary leads, analysed, that the planner weighs indexes by what they select
    (on an empty table every index costs the same and any may be picked)."""
    now = datetime.now(UTC)
    rows = [
        {
            "project_id": project.id,
            "email": f"l{i}@x.test",
            "status": "contacted",
            "source": "import",
            "company": f"Company {i}",
            "job_title": "Engineer",
            "tags": ["customer"],
            "custom": {},
            "enrichment": {"company": {"size": 5, "industry": "Retail"}},
            "created_at": now,
            "updated_at": now,
        }
        for i in range(3000)
    ]
    with db.begin() as conn:
        insert_rows(conn, leads, rows)
    # VACUUM also moves the rows out of the GIN indexes' pending lists, which the planner
    # otherwise charges for (autovacuum does the same in production).
    with db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE leads")


def _missing_extensions(conn: sa.Connection, index: str) -> set[str]:
    """The extensions an index needs (as migration 0006 declares; later ones need none) that
    this server lacks."""
    _method, _expression, needed = _migration_0006().INDEXES.get(index, ("", "", ()))
    installed = conn.execute(sa.text("SELECT extname FROM pg_extension")).scalars()
    return set(needed) - set(installed)


def _migration_0006() -> Any:
    import importlib.util
    from pathlib import Path

    from segmint.store import migrate

    versions = Path(migrate.__file__).parent / "migrations" / "versions"
    spec = importlib.util.spec_from_file_location("m0006", versions / "0006_filter_indexes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _filter_indexes(conn: sa.Connection) -> set[str]:
    names = conn.execute(
        sa.text("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_leads_filter_%'")
    )
    return set(names.scalars())


def _explain(conn: sa.Connection, query: sa.Select[Any]) -> str:
    with explaining(conn, options=""):
        return "\n".join(str(row[0]) for row in conn.execute(query))


def test_the_migration_trims_what_python_trims() -> None:
    """The SQL fold function hard-codes the whitespace list of filters/dialects.py."""
    assert _migration_0006()._WHITESPACE == PY_WHITESPACE


@pytest.mark.parametrize(
    ("tree", "join"),
    [
        ({"event": "trial_signup", "within_days": 14}, ""),  # a semi-join, or a join on unique ids
        ({"event": "api_call", "within_days": 14, "performed": False}, "Anti Join"),
        ({"not": {"event": "api_call"}}, "Anti Join"),
    ],
    ids=["performed", "did-not-perform", "not-performed"],
)
def test_event_conditions_are_planned_as_joins(
    db: Engine, project: Project, tree: dict[str, Any], join: str
) -> None:
    """ "Did X" is a semi-join and "never did X" an anti-join on PostgreSQL, not a filter of
    every lead through a hashed NOT IN subplan (finding 10 in docs/performance.md)."""
    if db.dialect.name != "postgresql":
        pytest.skip("plan shapes are PostgreSQL's")
    _fill(db, project)
    with db.begin() as conn:
        node = filtering.validate(
            conn, project, {"and": [tree, {"field": "status", "op": "is_not_null"}]}, reader=None
        )
        query = sa.select(sa.func.count()).where(
            leads.c.project_id == project.id,
            filtering.condition(conn, project, node, datetime.now(UTC)),
        )
        plan = _explain(conn, query)
    assert join in plan and "SubPlan" not in plan, plan
