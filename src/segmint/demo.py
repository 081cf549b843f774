"""Realistic demo data, deterministic under a seed.

Faker builds pools of names, companies and places once; a seeded `random.Random` then draws every
lead and event from those pools, which keeps a million leads fast and every run with the same
seed and clock identical. Data is written through the same ingestion code as imports.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from faker import Faker
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.campaigns.definitions import create_campaign
from segmint.clock import SYSTEM_CLOCK, Clock
from segmint.engine.membership import Reason
from segmint.engine.segment_versions import record_version
from segmint.engine.segments import get_segment, resync_later
from segmint.ingest import ImportReport, ingest_events, upsert_leads
from segmint.projects import Project, add_custom_field, get_project_by_id
from segmint.store.bulk import insert_rows
from segmint.store.db import refresh_sqlite_statistics
from segmint.store.tables import (
    account_membership_history,
    accounts,
    campaigns,
    events,
    lead_event_counts,
    leads,
    membership_history,
    segments,
    work_items,
)

SENIORITY_TITLES: dict[str, list[str]] = {
    "C-Suite": ["CEO", "CTO", "CFO", "COO", "CMO", "Founder & CEO", "Co-Founder"],
    "VP": ["VP of Sales", "VP of Marketing", "VP Engineering", "VP Operations", "VP & CEO"],
    "Director": ["Director of Marketing", "Sales Director", "Director of Engineering"],
    "Manager": ["Marketing Manager", "Product Manager", "Engineering Manager", "Sales Manager"],
    "Individual Contributor": [
        "Software Engineer",
        "Account Executive",
        "Data Analyst",
        "Marketing Specialist",
        "Designer",
        "SDR",
    ],
}
SENIORITY_WEIGHTS = [8, 12, 18, 27, 35]
INDUSTRIES = [
    "Technology",
    "SaaS",
    "Software",
    "Healthcare",
    "Finance",
    "Retail",
    "Manufacturing",
    "Education",
    "Real Estate",
    "Media",
]
TECHNOLOGIES = [
    "Salesforce",
    "HubSpot",
    "Stripe",
    "React",
    "Vue",
    "AWS",
    "Segment",
    "Intercom",
    "Zendesk",
    "Shopify",
    "Snowflake",
    "Slack",
]
COMPANY_SIZES = [5, 12, 25, 48, 75, 150, 320, 750, 1800, 5200, 12000]
STATUS_WEIGHTS = {"new": 40, "contacted": 25, "replied": 12, "qualified": 10, "lost": 13}
SOURCES = ["apollo_search", "manual_import", "api_integration", "webinar", "referral"]
SOURCE_WEIGHTS = [40, 25, 20, 8, 7]
TAGS = [
    "vip",
    "newsletter",
    "event-2026",
    "partner",
    "churn-risk",
    "enterprise",
    "trial",
    "buyer",
    "referral",
]
US_STATES = ["CA", "NY", "TX", "FL", "IL", "WA", "MA", "CO", "GA", "NC"]
COUNTRIES = ["United States"] * 6 + [
    "Canada",
    "United Kingdom",
    "Germany",
    "France",
    "Australia",
    "India",
]
PAGES = [
    "/pricing",
    "/docs",
    "/docs/api",
    "/blog/segmentation-101",
    "/case-studies/acme",
    "/features",
    "/",
]
EVENT_WEIGHTS = {
    "page_view": 45,
    "email_open": 20,
    "email_click": 8,
    "form_submit": 6,
    "trial_signup": 3,
    "api_call": 12,
    "webinar_attend": 3,
    "whitepaper_download": 3,
}
EVENT_WINDOW_DAYS = 120
LEAD_WINDOW_DAYS = 365
CHUNK = 10_000

EXAMPLE_SEGMENTS: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "New enriched leads",
        "Ready for outreach",
        "#16a34a",
        {
            "and": [
                {"field": "status", "op": "eq", "value": "new"},
                {"field": "enrichment_status", "op": "eq", "value": "enriched"},
                {"field": "enrichment.company.size", "op": "gte", "value": 10},
            ]
        },
    ),
    (
        "Enterprise decision makers",
        "C-level and VPs at 100+ people",
        "#7c3aed",
        {
            "and": [
                {"field": "job_title", "op": "contains", "value": ["CEO", "VP", "Director"]},
                {"field": "enrichment.company.size", "op": "gte", "value": 100},
                {"field": "status", "op": "in", "value": ["new", "contacted"]},
            ]
        },
    ),
    (
        "Pricing page visitors",
        "Viewed /pricing 3+ times in 30 days",
        "#ea580c",
        {
            "event": "page_view",
            "min_count": 3,
            "within_days": 30,
            "where": {"field": "path", "op": "contains", "value": "/pricing"},
        },
    ),
    (
        "Recent trial sign-ups",
        "Signed up for a trial in the last 14 days",
        "#0891b2",
        {"event": "trial_signup", "within_days": 14},
    ),
    (
        "Stalled trials",
        "Trial, no API call in 14 days",
        "#dc2626",
        {
            "and": [
                {"event": "trial_signup"},
                {"event": "api_call", "within_days": 14, "performed": False},
            ]
        },
    ),
    (
        "US West & East coast",
        "Enriched, in CA or NY",
        "#2563eb",
        {
            "and": [
                {
                    "field": "enrichment.person.location.country",
                    "op": "eq",
                    "value": "United States",
                },
                {"field": "enrichment.person.location.state", "op": "in", "value": ["CA", "NY"]},
            ]
        },
    ),
]


@dataclass(frozen=True)
class Pools:
    first_names: list[str]
    last_names: list[str]
    companies: list[dict[str, Any]]
    cities: list[tuple[str, str]]


EXAMPLE_BODY = """Hi {{ lead.first_name | default('there') }},

Thanks for your interest{% if lead.company %} from {{ lead.company }}{% endif %}. Here is how
teams like yours get started: <a href="https://example.com/start">the getting-started guide</a>.

The Acme team"""


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", ascii_text.lower()) or "x"


def build_pools(seed: int) -> Pools:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    companies = []
    for name in dict.fromkeys(fake.company() for _ in range(1500)):
        companies.append(
            {
                "name": name,
                "domain": f"{_slug(name)[:30]}.com",
                "size": rng.choice(COMPANY_SIZES),
                "industry": rng.choice(INDUSTRIES),
                "revenue": rng.choice([250_000, 1_000_000, 4_500_000, 12_000_000, 80_000_000]),
                "technologies": rng.sample(TECHNOLOGIES, rng.randint(1, 5)),
            }
        )
    return Pools(
        first_names=[fake.first_name() for _ in range(600)],
        last_names=[fake.last_name() for _ in range(900)],
        companies=companies,
        cities=[(fake.city(), rng.choice(US_STATES)) for _ in range(300)],
    )


class DemoGenerator:
    def __init__(self, project: Project, seed: int, now: datetime, account_ids: list[int]):
        self.rng = random.Random(seed)
        self.pools = build_pools(seed)
        self.project = project
        self.now = now
        self.account_ids = account_ids

    def lead(self, index: int) -> dict[str, Any]:
        rng, pools = self.rng, self.pools
        company = rng.choice(pools.companies)
        first, last = rng.choice(pools.first_names), rng.choice(pools.last_names)
        seniority = rng.choices(list(SENIORITY_TITLES), SENIORITY_WEIGHTS)[0]
        status = rng.choices(list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values()))[0]
        created = self.now - timedelta(seconds=rng.randint(0, LEAD_WINDOW_DAYS * 86400))
        record: dict[str, Any] = {
            "email": f"{_slug(first)}.{_slug(last)}{index}@{company['domain']}",
            "first_name": first,
            "last_name": last,
            "phone": f"+1-{rng.randint(200, 989)}-555-{rng.randint(0, 9999):04d}",
            "phone_type": rng.choices(["mobile", "landline", "unknown"], [55, 35, 10])[0],
            "company": company["name"],
            "job_title": rng.choice(SENIORITY_TITLES[seniority]),
            "status": status,
            "source": rng.choices(SOURCES, SOURCE_WEIGHTS)[0],
            "tags": rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2, 3])),
            "country": rng.choice(COUNTRIES),
            "language": rng.choice(["en", "en", "en", "de", "fr", "es"]),
            "priority": rng.choice(["High", "Medium", "Low"]),
            "group_name": rng.choice(["Inbound", "Outbound", "Partners"]),
            "created_at": created,
            "custom.plan": rng.choice(["free", "pro", "enterprise"]),
            "custom.budget": rng.choice([None, 5_000, 25_000, 100_000, 500_000]),
            "custom.newsletter": rng.random() < 0.4,
        }
        if status != "new":
            record["last_contacted_at"] = created + (self.now - created) * rng.random()
        if self.account_ids and rng.random() < 0.3:
            record["account_id"] = rng.choice(self.account_ids)
        if rng.random() < 0.7:
            record["enrichment"] = self._enrichment(company, seniority)
        return record

    def _enrichment(self, company: dict[str, Any], seniority: str) -> dict[str, Any]:
        rng = self.rng
        country = rng.choice(COUNTRIES)
        city, state = rng.choice(self.pools.cities)
        location = {
            "country": country,
            "state": state if country == "United States" else None,
            "city": city,
        }
        return {
            "company": {
                key: company[key] for key in ("size", "industry", "revenue", "technologies")
            },
            "person": {"seniority_level": seniority, "location": location},
        }

    def events_for(self, email: str, created: datetime) -> Iterator[dict[str, Any]]:
        rng = self.rng
        start = max(created, self.now - timedelta(days=EVENT_WINDOW_DAYS))
        span = max((self.now - start).total_seconds(), 1.0)
        for _ in range(min(int(rng.expovariate(1 / 8)), 60)):
            kind = rng.choices(list(EVENT_WEIGHTS), list(EVENT_WEIGHTS.values()))[0]
            yield {
                "email": email,
                "type": kind,
                "occurred_at": start + timedelta(seconds=rng.random() * span),
                "metadata": self.event_metadata(kind),
            }

    def event_metadata(self, kind: str) -> dict[str, Any]:
        rng = self.rng
        if kind == "page_view":
            return {"path": rng.choice(PAGES), "duration_s": rng.randint(3, 600)}
        if kind in ("email_open", "email_click"):
            data: dict[str, Any] = {"campaign_id": rng.randint(1, 12)}
            if kind == "email_click":
                data["url"] = "https://example.com" + rng.choice(PAGES)
            return data
        if kind == "form_submit":
            return {"form_id": rng.choice(["demo-request", "newsletter", "contact-sales"])}
        if kind == "api_call":
            return {"endpoint": rng.choice(["/v1/leads", "/v1/segments", "/v1/events"])}
        return {}


def generate(
    engine: Engine,
    project: Project,
    leads_count: int = 10_000,
    seed: int = 42,
    clock: Clock = SYSTEM_CLOCK,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[ImportReport, ImportReport]:
    """Create custom fields, accounts, leads, events and example segments in `project`."""
    now = clock.now()
    project = declare_custom_fields(engine, project)
    generator = DemoGenerator(project, seed, now, [])
    account_ids = create_accounts(engine, project, generator, now)
    generator.account_ids = account_ids
    lead_report, event_report = ImportReport(), ImportReport()
    # Chunks keep memory flat: a chunk's leads are stored before its events refer to them.
    for first in range(0, leads_count, CHUNK):
        records = [(i, generator.lead(i)) for i in range(first, min(first + CHUNK, leads_count))]
        _merge(lead_report, upsert_leads(engine, project, records, clock=clock))
        chunk_events = [
            (0, event)
            for _, record in records
            for event in generator.events_for(record["email"], record["created_at"])
        ]
        _merge(event_report, ingest_events(engine, project, chunk_events, clock=clock))
        if on_progress:
            on_progress(len(records))
    _create_example_segments(engine, project, now)
    _create_example_campaign(engine, project, now)
    refresh_sqlite_statistics(engine, lead_report.counts.created + event_report.counts.accepted)
    return lead_report, event_report


def _merge(total: ImportReport, part: ImportReport) -> None:
    total.counts.add(part.counts)
    for error in part.errors:
        total.record_error(error)


def declare_custom_fields(engine: Engine, project: Project) -> Project:
    with engine.begin() as conn:
        wanted = [
            ("plan", "select", ["free", "pro", "enterprise"]),
            ("budget", "number", None),
            ("newsletter", "boolean", None),
        ]
        for key, kind, options in wanted:
            if key not in project.custom_fields:
                add_custom_field(conn, project.id, key, type=kind, options=options)
        return get_project_by_id(conn, project.id)


def create_accounts(
    engine: Engine, project: Project, generator: DemoGenerator, now: datetime
) -> list[int]:
    rows = [
        {
            "project_id": project.id,
            "name": c["name"],
            "domain": c["domain"],
            "metadata": {"industry": c["industry"], "size": c["size"], "tier": tier},
            "created_at": now,
            "updated_at": now,
        }
        for c, tier in zip(generator.pools.companies[:200], ["A", "B", "C"] * 67, strict=False)
    ]
    with engine.begin() as conn:
        insert_rows(conn, accounts, rows)
        ids = conn.execute(
            sa.select(accounts.c.id).where(accounts.c.project_id == project.id)
        ).scalars()
        return [int(i) for i in ids]


def _create_example_segments(engine: Engine, project: Project, now: datetime) -> None:
    with engine.begin() as conn:
        # Made by the owner who logs in first, so "My segments" opens on them.
        creator = auth.first_owner(conn, project.organization_id)
        for name, description, color, tree in EXAMPLE_SEGMENTS:
            segment_id = conn.execute(
                segments.insert()
                .values(
                    project_id=project.id,
                    name=name,
                    description=description,
                    color=color,
                    filter=tree,
                    active=True,
                    created_by=creator,
                    created_at=now,
                    updated_at=now,
                    version=1,
                )
                .returning(segments.c.id)
            ).scalar_one()
            # Active segments keep a maintained membership: the worker builds it.
            resync_later(conn, project, segment_id, Reason.CREATED, now)
            saved = get_segment(conn, project, segment_id)
            record_version(conn, project, saved, creator, now)  # its history starts here


def _create_example_campaign(engine: Engine, project: Project, now: datetime) -> None:
    """A draft nurture campaign on the first example segment: it shows the editor and the
    audience preview (sending needs Settings > Mail)."""
    with engine.begin() as conn:
        first_segment = conn.execute(
            sa.select(segments.c.id)
            .where(segments.c.project_id == project.id)
            .order_by(segments.c.id)
            .limit(1)
        ).scalar_one()
        data = {
            "name": "Daily welcome for new enriched leads",
            "targeting": {"include_segments": [first_segment]},
            "subject": "Welcome, {{ lead.first_name | default('there') }}",
            "body": EXAMPLE_BODY,
            "schedule": {"kind": "cron", "cron": "0 10 * * 1-5"},
        }
        create_campaign(conn, project, data, auth.first_owner(conn, project.organization_id), now)


def has_data(engine: Engine, project: Project) -> bool:
    with engine.connect() as conn:
        query = sa.select(leads.c.id).where(leads.c.project_id == project.id).limit(1)
        return conn.execute(query).first() is not None


def clear(engine: Engine, project: Project) -> None:
    """Remove the project's demo data (leads, events, accounts, segments and their membership
    history, queued work), keeping the project."""
    # Counters first: the trigger that keeps them then has nothing to recompute per lead.
    tables = (
        campaigns,
        work_items,
        membership_history,
        account_membership_history,
        lead_event_counts,
        events,
        leads,
        accounts,
        segments,
    )
    with engine.begin() as conn:
        for table in tables:
            conn.execute(table.delete().where(table.c.project_id == project.id))
