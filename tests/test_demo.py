"""Demo data: deterministic under a seed and shaped like real lead data, on both backends."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import auth, demo
from segmint.clock import FrozenClock, as_utc
from segmint.model import DEFAULT_STATUSES, PHONE_TYPES
from segmint.projects import Project, create_project, get_project_by_id
from segmint.store.tables import accounts, events, leads, segments

COUNT = 300


def new_project(db: Engine, name: str) -> Project:
    with db.begin() as conn:
        org = auth.create_organization(conn, name)
        return create_project(conn, org, "default")


def snapshot(db: Engine, project: Project) -> dict[str, dict[str, Any]]:
    """Each lead's data, keyed by email, with its event count (ids left out)."""
    with db.connect() as conn:
        counts = dict(
            conn.execute(
                sa.select(leads.c.email, sa.func.count(events.c.id))
                .select_from(leads.outerjoin(events, events.c.lead_id == leads.c.id))
                .where(leads.c.project_id == project.id)
                .group_by(leads.c.email)
            ).all()
        )
        rows = conn.execute(sa.select(leads).where(leads.c.project_id == project.id)).all()
    return {
        row.email: {
            "name": (row.first_name, row.last_name),
            "job_title": row.job_title,
            "status": row.status,
            "enrichment": row.enrichment,
            "custom": row.custom,
            "tags": row.tags,
            "created_at": as_utc(row.created_at),
            "has_account": row.account_id is not None,
            "events": counts[row.email],
        }
        for row in rows
    }


def test_same_seed_same_data_other_seed_other_data(db: Engine, clock: FrozenClock) -> None:
    first, second, third = (new_project(db, name) for name in ("One", "Two", "Three"))
    demo.generate(db, first, COUNT, seed=7, clock=clock)
    demo.generate(db, second, COUNT, seed=7, clock=clock)
    demo.generate(db, third, COUNT, seed=8, clock=clock)

    one, two, three = snapshot(db, first), snapshot(db, second), snapshot(db, third)
    assert len(one) == COUNT
    assert one == two
    assert set(one).isdisjoint(three)
    assert [v["job_title"] for v in one.values()] != [v["job_title"] for v in three.values()]
    assert sum(v["events"] for v in one.values()) != sum(v["events"] for v in three.values())


def test_generated_data_has_the_expected_shape(db: Engine, clock: FrozenClock) -> None:
    project = new_project(db, "Demo")
    lead_report, event_report = demo.generate(db, project, COUNT, seed=42, clock=clock)
    now = clock.now()

    assert (lead_report.counts.created, lead_report.failed) == (COUNT, 0)
    assert event_report.failed == 0 and event_report.counts.accepted > COUNT
    assert demo.has_data(db, project)

    with db.connect() as conn:
        rows = conn.execute(sa.select(leads).where(leads.c.project_id == project.id)).all()
        event_rows = conn.execute(
            sa.select(
                events.c.lead_id, events.c.type, events.c.occurred_at, events.c.metadata
            ).where(events.c.project_id == project.id)
        ).all()
        account_ids = set(
            conn.execute(
                sa.select(accounts.c.id).where(accounts.c.project_id == project.id)
            ).scalars()
        )
        segment_rows = conn.execute(
            sa.select(segments).where(segments.c.project_id == project.id)
        ).all()
        declared = get_project_by_id(conn, project.id).custom_fields

    # Leads.
    assert len(rows) == COUNT
    assert len({row.email for row in rows}) == COUNT
    statuses = Counter(row.status for row in rows)
    assert set(statuses) <= set(DEFAULT_STATUSES)
    assert len(statuses) == len(DEFAULT_STATUSES)
    assert {row.phone_type for row in rows} <= set(PHONE_TYPES)
    for row in rows:
        created = as_utc(row.created_at)
        assert now - timedelta(days=demo.LEAD_WINDOW_DAYS) <= created <= now
        assert row.first_name and row.last_name and row.company and row.job_title
        assert "@" in row.email
        if row.status == "new":
            assert row.last_contacted_at is None
        else:
            assert created <= as_utc(row.last_contacted_at) <= now

    # Enrichment: about 70%, with company and person details.
    enriched = [row.enrichment for row in rows if row.enrichment]
    assert 0.6 * COUNT <= len(enriched) <= 0.8 * COUNT
    for enrichment in enriched:
        company, person = enrichment["company"], enrichment["person"]
        assert isinstance(company["size"], int) and company["size"] > 0
        assert company["industry"] in demo.INDUSTRIES
        assert isinstance(company["revenue"], int)
        assert company["technologies"] and set(company["technologies"]) <= set(demo.TECHNOLOGIES)
        assert person["seniority_level"] in demo.SENIORITY_TITLES
        location = person["location"]
        assert set(location) == {"country", "state", "city"}
        assert location["country"] in demo.COUNTRIES and location["city"]
        if location["country"] == "United States":
            assert location["state"] in demo.US_STATES
    assert {e["person"]["seniority_level"] for e in enriched} == set(demo.SENIORITY_TITLES)

    # Custom fields are declared and used.
    assert {key: field.type for key, field in declared.items()} == {
        "plan": "select",
        "budget": "number",
        "newsletter": "boolean",
    }
    assert all(set(row.custom) <= set(declared) for row in rows)
    assert {row.custom["plan"] for row in rows} == {"free", "pro", "enterprise"}

    # Accounts exist and some leads are linked to them.
    assert len(account_ids) == 200
    linked = [row.account_id for row in rows if row.account_id is not None]
    assert 0.15 * COUNT <= len(linked) <= 0.45 * COUNT
    assert set(linked) <= account_ids

    # Events: several types, in the last 120 days, never before their lead existed.
    created_by_id = {row.id: as_utc(row.created_at) for row in rows}
    types = Counter(row.type for row in event_rows)
    assert len(types) >= 5 and types.most_common(1)[0][0] == "page_view"
    window_start = now - timedelta(days=demo.EVENT_WINDOW_DAYS)
    latest: dict[int, Any] = {}
    for event in event_rows:
        occurred = as_utc(event.occurred_at)
        assert max(window_start, created_by_id[event.lead_id]) <= occurred <= now
        latest[event.lead_id] = max(latest.get(event.lead_id, occurred), occurred)
        if event.type == "page_view":
            assert event.metadata["path"] in demo.PAGES
    assert len(latest) > COUNT // 2
    for row in rows:
        expected = latest.get(row.id)
        assert (as_utc(row.last_activity_at) if row.last_activity_at else None) == expected

    # Example segments.
    assert sorted(s.name for s in segment_rows) == sorted(n for n, *_ in demo.EXAMPLE_SEGMENTS)
    assert all(s.active and s.filter and s.color.startswith("#") for s in segment_rows)


def test_clear_removes_the_demo_data(db: Engine, clock: FrozenClock) -> None:
    project = new_project(db, "Demo")
    other = new_project(db, "Other")
    demo.generate(db, project, 50, seed=1, clock=clock)
    demo.generate(db, other, 50, seed=1, clock=clock)

    demo.clear(db, project)

    assert not demo.has_data(db, project)
    assert demo.has_data(db, other)
    with db.connect() as conn:
        for table in (events, accounts, segments):
            query = sa.select(sa.func.count()).select_from(table)
            assert conn.execute(query.where(table.c.project_id == project.id)).scalar_one() == 0
            assert conn.execute(query.where(table.c.project_id == other.id)).scalar_one() > 0
    # Generating again after a clear works (custom fields are already declared).
    lead_report, _ = demo.generate(db, get_project(db, project), 50, seed=1, clock=clock)
    assert (lead_report.counts.created, lead_report.failed) == (50, 0)


def get_project(db: Engine, project: Project) -> Project:
    with db.connect() as conn:
        return get_project_by_id(conn, project.id)


def test_example_segments_get_a_maintained_membership(db: Engine) -> None:
    from segmint.engine import membership
    from segmint.engine import segments as segments_engine
    from segmint.worker.loop import Worker

    project = new_project(db, "Maintained")
    clock = FrozenClock(as_utc(datetime(2026, 11, 1, 12)))
    demo.generate(db, project, leads_count=COUNT, seed=5, clock=clock)
    Worker(db, clock).drain()
    with db.connect() as conn:
        project = get_project_by_id(conn, project.id)
        rows = conn.execute(sa.select(segments).where(segments.c.project_id == project.id)).all()
        assert rows
        for row in rows:
            live = conn.execute(
                sa.select(sa.func.count()).where(
                    leads.c.project_id == project.id,
                    segments_engine.segment_condition(conn, project, row, clock.now()),
                )
            ).scalar_one()
            assert len(membership.member_ids(conn, project, row.id)) == live, row.name


def test_a_newcomers_first_screen_shows_the_examples_working(db: Engine) -> None:
    """After `segmint demo`, the owner who logs in sees the example segments under "My
    segments" (the list's default scope) with members, and the example campaign as a draft
    waiting for mail settings, not as an error."""
    from fastapi.testclient import TestClient

    from segmint import bootstrap
    from segmint.app import create_app
    from segmint.worker.loop import Worker

    installed = bootstrap.init(db, "owner@demo.test", "a long demo passphrase")
    clock = FrozenClock(as_utc(datetime(2026, 11, 1, 12)))
    demo.generate(db, installed.project, leads_count=COUNT, seed=5, clock=clock)
    Worker(db, clock).drain()
    with db.begin() as conn:
        token = auth.issue_token(conn, installed.owner_id or 0)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(db)) as client:
        base = "/api/v1/projects/default"
        mine = client.get(f"{base}/segments", headers=headers).json()["items"]
        campaigns = client.get(f"{base}/campaigns", headers=headers).json()["items"]
        first = mine[0]["id"]
        versions = client.get(f"{base}/segments/{first}/versions", headers=headers).json()
    # Each example has its history from the start, and reads as words in the list.
    assert [(v["number"], v["saved_by"]) for v in versions["items"]] == [(1, "owner@demo.test")]
    assert all(s["words"] for s in mine)
    assert {s["name"] for s in mine} == {name for name, *_ in demo.EXAMPLE_SEGMENTS}
    assert {s["created_by"] for s in mine} == {"owner@demo.test"}
    assert sum(s["member_count"] for s in mine) > 0
    [campaign] = campaigns
    assert campaign["status"] == "draft"
    assert {p["path"] for p in campaign["problems"]} == {"mail_settings"}
