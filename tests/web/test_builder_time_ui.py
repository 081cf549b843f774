"""The builder's random split and time in segment rows, in a real browser: the live count, the
saved segment's conditions in words."""

from __future__ import annotations

import re
import time
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from segmint.bucketing import bucket_of
from segmint.clock import SYSTEM_CLOCK
from segmint.engine import membership, segments
from segmint.store.tables import leads, users
from tests.web.conftest import Site, log_in, open_page, screenshot


def _new_segment(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/p/default/segments/new")
    expect(page.get_by_role("button", name="+ Condition")).to_be_visible()


def test_a_random_split_counts_its_half_and_reads_as_words(site: Site, browser: Any) -> None:
    with site.engine.connect() as conn:
        ids = conn.execute(
            sa.select(leads.c.id).where(leads.c.project_id == site.project.id)
        ).scalars()
        half = sum(1 for lead_id in ids if bucket_of("ab", lead_id) < 50)
    page = open_page(browser, "desktop")
    log_in(page, site)
    _new_segment(page, site)
    page.get_by_role("button", name="+ Split").click()
    row = page.get_by_role("group", name="Random split")
    expect(row.get_by_label("Bucket from (included)")).to_have_value("0")
    expect(row.get_by_label("Bucket to (not included)")).to_have_value("50")
    row.get_by_label("Split salt").fill("ab")
    expect(page.locator("#live-count")).to_have_text(f"{half} leads match your filters")
    page.get_by_label("Name", exact=True).fill("Half A")
    page.get_by_role("button", name="Create Segment").click()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))
    expect(page.locator("#member-count")).to_have_text(str(half))
    expect(page.locator("#conditions")).to_contain_text("In random bucket 0–49 of 0–99 (salt “ab”)")
    screenshot(page, site, "builder-random-split", "desktop")
    assert not page.errors


def test_time_in_segment_is_a_choice_on_the_segment_row(site: Site, browser: Any) -> None:
    from segmint.auth import Principal
    from segmint.model import Role

    project = site.project
    with site.engine.begin() as conn:
        owner = conn.execute(sa.select(users).where(users.c.email == site.email)).one()
        who = Principal(owner.id, project.organization_id, site.email, Role.OWNER, None)
        data = {"name": "New ones", "filter": {"field": "status", "op": "eq", "value": "new"}}
        source = segments.create_segment(conn, project, who, data, SYSTEM_CLOCK).id
    deadline = time.monotonic() + 30  # the worker thread fills its maintained membership
    while time.monotonic() < deadline:
        with site.engine.connect() as conn:
            if len(membership.member_ids(conn, project, source)) == 30:
                break
        time.sleep(0.1)
    page = open_page(browser, "desktop")
    log_in(page, site)
    _new_segment(page, site)
    page.get_by_role("button", name="+ Segment").click()
    row = page.get_by_role("group", name="Reference")
    row.get_by_label("Segment", exact=True).select_option(label="New ones")
    row.get_by_label("Time in segment").select_option("entered_within_days")
    row.get_by_label("Days in segment").fill("7")
    expect(page.locator("#live-count")).to_have_text("30 leads match your filters")
    row.get_by_label("Time in segment").select_option("for_at_least_days")
    expect(page.locator("#live-count")).to_have_text("0 leads match your filters")
    page.get_by_label("Name", exact=True).fill("Veterans")
    page.get_by_role("button", name="Create Segment").click()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))
    expect(page.locator("#conditions")).to_contain_text("New ones for at least 7 days")
    assert not page.errors
