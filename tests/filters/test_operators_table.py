"""Table-driven cases per field kind and operator, each asserted on Python and on SQL.

Every case also checks its complement: `{"not": case}` and the negated operator (neq, not_in,
not_contains, not_between, is_null, has_none) must match exactly the other leads, nulls included.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.projects import Project, add_custom_field, create_project, get_project_by_id
from tests.filters.harness import LeadSpec, run_table

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # a Sunday; New York leaves DST this day


def _with_custom_fields(db: Engine, project: Project, *fields: tuple[str, str]) -> Project:
    with db.begin() as conn:
        for key, kind in fields:
            options = ["gold", "silver"] if kind == "select" else None
            add_custom_field(conn, project.id, key, type=kind, options=options)
        return get_project_by_id(conn, project.id)


def test_text_column(db: Engine, project: Project) -> None:
    leads = {
        "none": LeadSpec({"job_title": None}),
        "empty": LeadSpec({"job_title": ""}),
        "blank": LeadSpec({"job_title": " \t "}),
        "ceo": LeadSpec({"job_title": "  CEO & Founder "}),
        "vp": LeadSpec({"job_title": "VP Sales"}),
        "ecole": LeadSpec({"job_title": "ÉCOLE Normale"}),
        "pct": LeadSpec({"job_title": "100% _corp"}),
        "plain": LeadSpec({"job_title": "100 xcorp"}),
    }
    cases = [
        ("eq", "ceo & founder", ["ceo"]),
        ("eq", "  École NORMALE ", ["ecole"]),
        ("eq", "vp", []),
        ("in", ["VP sales", "nobody"], ["vp"]),
        ("contains", "ceo", ["ceo"]),
        ("contains", ["CEO", "vp"], ["ceo", "vp"]),
        ("contains", "école", ["ecole"]),
        ("contains", "0% _c", ["pct"]),
        ("contains", "%", ["pct"]),
        ("contains", "_", ["pct"]),
        ("contains", "0%", ["pct"]),
        ("starts_with", "vp", ["vp"]),
        ("starts_with", ["100%", "école"], ["pct", "ecole"]),
        ("ends_with", "FOUNDER", ["ceo"]),
        ("ends_with", "_corp", ["pct"]),
        ("is_not_null", None, ["ceo", "vp", "ecole", "pct", "plain"]),
    ]
    run_table(db, project, "job_title", leads, cases, NOW)


def test_select_and_name(db: Engine, project: Project) -> None:
    leads = {
        "new": LeadSpec({"status": "New", "first_name": "Ann", "last_name": "Lee"}),
        "new2": LeadSpec({"status": " new ", "first_name": "Bob"}),
        "lost": LeadSpec({"status": "lost", "last_name": "Straße"}),
        "none": LeadSpec({"status": None}),
    }
    run_table(
        db, project, "status", leads,
        [("eq", "NEW", ["new", "new2"]), ("in", ["lost", "new"], ["new", "new2", "lost"]),
         ("is_not_null", None, ["new", "new2", "lost"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "name", leads,
        [("eq", "ann lee", ["new"]), ("contains", "bob", ["new2"]),
         ("starts_with", "straße", ["lost"]), ("is_not_null", None, ["new", "new2", "lost"])],
        NOW,
    )  # fmt: skip


def test_number_column(db: Engine, project: Project) -> None:
    leads = {
        "zero": LeadSpec({"engagement_score": 0}),
        "mid": LeadSpec({"engagement_score": 49.5}),
        "fifty": LeadSpec({"engagement_score": 50}),
        "high": LeadSpec({"engagement_score": 100}),
        "negative": LeadSpec({"engagement_score": -3}),
    }
    cases = [
        ("eq", 50, ["fifty"]),
        ("gt", 49.5, ["fifty", "high"]),
        ("gte", 49.5, ["mid", "fifty", "high"]),
        ("lt", 0, ["negative"]),
        ("lte", 0, ["zero", "negative"]),
        ("between", [0, 50], ["zero", "mid", "fifty"]),
        ("between", [50, 0], []),
        ("in", [0, 100, 7], ["zero", "high"]),
        ("is_not_null", None, ["zero", "mid", "fifty", "high", "negative"]),
    ]
    run_table(db, project, "engagement_score", leads, cases, NOW)


def test_custom_typed_fields(db: Engine, project: Project) -> None:
    project = _with_custom_fields(
        db, project, ("seats", "number"), ("vip", "boolean"), ("tier", "select"),
        ("renewal", "date"), ("note", "text"),
    )  # fmt: skip
    leads = {
        "a": LeadSpec({"custom": {"seats": 50, "vip": True, "tier": "Gold", "renewal": "2026-11-01",
                                  "note": "Call back"}}),
        "b": LeadSpec({"custom": {"seats": "50", "vip": "true", "tier": " gold ",
                                  "renewal": "2026-10-25T10:00:00Z", "note": 5}}),
        "c": LeadSpec({"custom": {"seats": 12.5, "vip": False, "tier": "", "renewal": "",
                                  "note": "  "}}),
        "d": LeadSpec({"custom": {"seats": None, "vip": None, "tier": None, "renewal": None}}),
        "e": LeadSpec({"custom": {}}),
    }  # fmt: skip
    run_table(
        db, project, "custom.seats", leads,
        [("eq", 50, ["a"]), ("gte", 12.5, ["a", "c"]), ("between", [10, 20], ["c"]),
         ("in", [50, 12.5], ["a", "c"]), ("is_not_null", None, ["a", "b", "c"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "custom.vip", leads,
        [("eq", True, ["a"]), ("eq", False, ["c"]), ("is_not_null", None, ["a", "b", "c"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "custom.tier", leads,
        [("eq", "GOLD", ["a", "b"]), ("in", ["gold"], ["a", "b"]),
         ("is_not_null", None, ["a", "b"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "custom.renewal", leads,
        [("eq", "2026-11-01", ["a"]), ("lt", "2026-11-01", ["b"]),
         ("gte", "2026-10-25", ["a", "b"]),
         ("between", ["2026-10-01", "2026-10-31"], ["b"]), ("within_last", 7, ["a", "b"]),
         ("within_last", 6, ["a"]), ("older_than", 3, ["b"]), ("in_period", "this_month", ["a"]),
         ("in_period", "last_month", ["b"]), ("in_period", "this_week", ["a"]),
         ("is_not_null", None, ["a", "b"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "custom.note", leads,
        [("contains", "call", ["a"]), ("eq", "call back", ["a"]),
         ("is_not_null", None, ["a", "b"])],
        NOW,
    )  # fmt: skip


ENRICHMENT = {
    "full": {"company": {"size": 120, "industry": " SaaS ",
                         "technologies": ["Salesforce", "HubSpot"]},
             "person": {"location": {"country": "United States"}}},
    "stringy": {"company": {"size": "120", "industry": "saas", "technologies": "Salesforce"}},
    "small": {"company": {"size": 10.5, "technologies": [], "industry": ""}},
    "flag": {"company": {"size": True, "technologies": [1, "hubspot "]}},
    "null_company": {"company": None},
    "empty": {},
    "sql_null": None,
}  # fmt: skip


def test_untyped_json(db: Engine, project: Project) -> None:
    leads = {label: LeadSpec({"enrichment": value}) for label, value in ENRICHMENT.items()}
    everyone_but = lambda *labels: [k for k in ENRICHMENT if k not in labels]  # noqa: E731
    run_table(
        db, project, "enrichment.company.size", leads,
        [("gt", 100, ["full"]), ("eq", 120, ["full"]), ("eq", "120", ["stringy"]),
         ("in", [120, "120"], ["full", "stringy"]), ("between", [10, 200], ["full", "small"]),
         ("eq", True, ["flag"]), ("lte", 1, []),
         ("is_not_null", None, ["full", "stringy", "small", "flag"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "enrichment.company.industry", leads,
        [("eq", "SAAS", ["full", "stringy"]), ("contains", "aa", ["full", "stringy"]),
         ("is_not_null", None, ["full", "stringy"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "enrichment.company.technologies", leads,
        [("has_any", ["hubspot"], ["full", "flag"]),
         ("has_all", ["SALESFORCE", "hubspot"], ["full"]),
         ("has_any", ["salesforce"], ["full"]), ("eq", "salesforce", ["full", "stringy"]),
         ("is_not_null", None, ["full", "stringy", "flag"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "enrichment.person.location.country", leads,
        [("eq", "united states", ["full"]), ("is_not_null", None, ["full"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "enrichment_status", leads,
        [("eq", "enriched", everyone_but("empty", "sql_null")),
         ("in", ["not_enriched"], ["empty", "sql_null"])],
        NOW,
    )  # fmt: skip


STACKS = {
    "stack": {"company": {"technologies": ["Salesforce", "HubSpot"]}},
    "string": {"company": {"technologies": " Salesforce CRM "}},
    "mixed": {"company": {"technologies": [1, True, None, {"name": "Zendesk"}, ["Stripe"],
                                           " hubspot ", "  "]}},
    "numbers": {"company": {"technologies": [1, 2.5]}},
    "empty": {"company": {"technologies": []}},
    "none": {},
}  # fmt: skip


def test_text_operators_read_json_arrays_by_their_string_elements(
    db: Engine, project: Project
) -> None:
    """On untyped JSON a text operator matches an array when one of its string elements
    matches; other elements (numbers, objects, nested arrays, blanks) are never read, and the
    negations stay exact complements (an array with no matching element, and null, match)."""
    leads = {label: LeadSpec({"enrichment": value}) for label, value in STACKS.items()}
    run_table(
        db, project, "enrichment.company.technologies", leads,
        [("contains", "sales", ["stack", "string"]),
         ("contains", ["SPOT", "zen"], ["stack", "mixed"]),
         ("not_contains", "sales", ["mixed", "numbers", "empty", "none"]),
         ("not_contains", ["sales", "hub"], ["numbers", "empty", "none"]),
         ("eq", "HubSpot", ["stack", "mixed"]),
         ("eq", "stripe", []),
         ("eq", "salesforce crm", ["string"]),
         ("in", ["salesforce", "nothing"], ["stack"]),
         ("in", ["Salesforce CRM", "hubspot", 1], ["string", "stack", "mixed"]),
         ("starts_with", "hub", ["stack", "mixed"]),
         ("starts_with", ["sales"], ["stack", "string"]),
         ("ends_with", "force", ["stack"]),
         ("ends_with", ["crm", "spot"], ["string", "stack", "mixed"]),
         ("eq", 1, []), ("gte", 1, []), ("eq", True, []),  # numbers are read as numbers only
         ("has_any", ["hubspot"], ["stack", "mixed"]),
         ("is_not_null", None, ["stack", "string", "mixed", "numbers"])],
        NOW,
    )  # fmt: skip


def test_tags(db: Engine, project: Project) -> None:
    leads = {
        "vip": LeadSpec({"tags": ["VIP", " beta "]}),
        "beta": LeadSpec({"tags": ["Beta"]}),
        "none": LeadSpec({"tags": []}),
        "mixed": LeadSpec({"tags": [1, "vip", "vip"]}),
    }
    cases = [
        ("has_any", ["vip"], ["vip", "mixed"]),
        ("has_any", ["BETA", "x"], ["vip", "beta"]),
        ("has_all", ["vip", "beta"], ["vip"]),
        ("has_all", ["vip", "VIP "], ["vip", "mixed"]),
        ("is_not_null", None, ["vip", "beta", "mixed"]),
    ]
    run_table(db, project, "tags", leads, cases, NOW)


def test_datetime_column(db: Engine, project: Project) -> None:
    def ago(**delta: float) -> LeadSpec:
        return LeadSpec({"last_contacted_at": NOW - timedelta(**delta)})

    leads = {
        "never": LeadSpec({"last_contacted_at": None}),
        "hour": ago(hours=1),
        "day": ago(days=1),  # Saturday 2026-10-31 12:00
        "week": ago(days=6, hours=23),  # Sunday 2026-10-25 13:00
        "month": ago(days=40),  # 2026-09-22
        "future": LeadSpec({"last_contacted_at": NOW + timedelta(days=2)}),
    }
    cases = [
        ("within_last", 7, ["hour", "day", "week"]),
        ("within_last", 1, ["hour", "day"]),
        ("older_than", 30, ["month"]),
        ("older_than", 0.5, ["day", "week", "month"]),
        ("in_period", "today", ["hour"]),
        ("in_period", "yesterday", ["day"]),
        ("in_period", "this_week", ["hour", "day"]),
        ("in_period", "last_week", ["week"]),
        ("in_period", "this_month", ["hour", "future"]),
        ("in_period", "last_month", ["day", "week"]),
        ("in_period", "this_year", ["hour", "day", "week", "month", "future"]),
        ("eq", "2026-10-31", ["day"]),
        ("gt", "2026-10-31", ["hour", "future"]),
        ("gte", "2026-10-31", ["hour", "day", "future"]),
        ("lt", "2026-10-25", ["month"]),
        ("lte", "2026-10-25", ["week", "month"]),
        ("between", ["2026-10-25", "2026-10-31"], ["day", "week"]),
        ("eq", "2026-10-31T12:00:00Z", ["day"]),
        ("eq", "2026-10-31T08:00:00-04:00", ["day"]),
        ("lt", "2026-10-31T12:00:00+00:00", ["week", "month"]),
        ("is_not_null", None, ["hour", "day", "week", "month", "future"]),
    ]
    run_table(db, project, "last_contacted_at", leads, cases, NOW)


def test_calendar_periods_use_the_project_time_zone(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        ny = create_project(conn, project.organization_id, "ny", timezone="America/New_York")
    local = lambda text: datetime.fromisoformat(text).astimezone(UTC)  # noqa: E731
    leads = {
        # NOW is 2026-11-01 07:00 in New York (EST since 06:00 UTC).
        "early_today": LeadSpec({"last_contacted_at": local("2026-11-01T00:30:00-04:00")}),
        "late_yesterday": LeadSpec({"last_contacted_at": local("2026-10-31T23:30:00-04:00")}),
        "utc_today_ny_yesterday": LeadSpec({"last_contacted_at": local("2026-11-01T03:00:00Z")}),
        "monday": LeadSpec({"last_contacted_at": local("2026-10-26T00:00:00-04:00")}),
        "sunday_before": LeadSpec({"last_contacted_at": local("2026-10-25T23:59:00-04:00")}),
    }
    cases = [
        ("in_period", "today", ["early_today"]),
        ("in_period", "yesterday", ["late_yesterday", "utc_today_ny_yesterday"]),
        ("in_period", "this_week",
         ["early_today", "late_yesterday", "utc_today_ny_yesterday", "monday"]),
        ("in_period", "last_week", ["sunday_before"]),
        ("in_period", "this_month", ["early_today"]),
        ("eq", "2026-11-01", ["early_today"]),
    ]  # fmt: skip
    run_table(db, ny, "last_contacted_at", leads, cases, NOW)


def test_account_fields(db: Engine, project: Project) -> None:
    leads = {
        "acme": LeadSpec(account={"name": "ACME Inc", "domain": "acme.com",
                                  "metadata": {"tier": 2, "industry": "SaaS"},
                                  "engagement_level": "Hot"}),
        "blank": LeadSpec(account={"name": "Blank", "domain": " ",
                                   "metadata": {"industry": ["Fintech", "Banking as a service"]}}),
        "orphan": LeadSpec(),
    }  # fmt: skip
    run_table(
        db, project, "account.name", leads,
        [("eq", "acme inc", ["acme"]), ("contains", "a", ["acme", "blank"]),
         ("is_not_null", None, ["acme", "blank"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "account.domain", leads,
        [("ends_with", ".com", ["acme"]), ("is_not_null", None, ["acme"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "account.metadata.tier", leads,
        [("gte", 2, ["acme"]), ("is_not_null", None, ["acme"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "account.metadata.industry", leads,
        [("contains", "as", ["acme", "blank"]), ("eq", "fintech", ["blank"]),
         ("not_contains", "saas", ["blank", "orphan"])],
        NOW,
    )  # fmt: skip
    run_table(
        db, project, "account.engagement_level", leads,
        [("in", ["hot", "very hot"], ["acme"])],
        NOW,
    )  # fmt: skip


def test_queries_are_scoped_to_the_project(db: Engine, project: Project) -> None:
    from segmint.filters import parse_filter, select_lead_ids
    from tests.filters.harness import insert_leads

    with db.begin() as conn:
        other = create_project(conn, project.organization_id, "other")
        mine = insert_leads(conn, project.id, [LeadSpec({"status": "new"})])
        insert_leads(conn, other.id, [LeadSpec({"status": "new"})])
        node = parse_filter({"field": "status", "op": "eq", "value": "new"}, project)
        found = conn.execute(select_lead_ids(node, project, NOW, conn.dialect.name)).scalars()
        assert list(found) == mine
        assert conn.execute(sa.select(sa.func.count()).select_from(sa.text("leads"))).scalar() == 2
