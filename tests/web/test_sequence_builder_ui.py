"""A sequence in the builder, in a real browser: its steps, its windows, the text syntax it is
and the words the saved segment shows."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, log_in, open_page, pick


def test_a_sequence_row_builds_steps_and_windows(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/segments/new")
    page.get_by_label("Name", exact=True).fill("Signed up twice")
    page.get_by_role("button", name="+ Sequence").click()
    row = page.get_by_role("group", name="Sequence")
    expect(row.get_by_role("group", name="Step 2")).to_be_visible()
    row.get_by_role("button", name="+ Step").click()
    expect(row.get_by_role("group", name="Step 3")).to_be_visible()
    row.get_by_role("button", name="Remove step 3").click()
    expect(row.get_by_role("group", name="Step 3")).to_have_count(0)
    row.get_by_label("First step within the last days (blank: ever)").fill("30")
    page.get_by_text("Text syntax", exact=True).click()
    expect(page.locator("#filter-text")).to_have_value(  # the builder's root is a group
        'all(performed "trial_signup" then "trial_signup" within 7 days starting within 30 days)'
    )
    # Each lead's one sign-up cannot follow itself: the steps' times strictly increase.
    expect(page.locator("#live-count")).to_have_text("0 leads match your filters")
    page.get_by_role("button", name="Create Segment").click()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))
    expect(page.locator("#conditions")).to_contain_text(
        "Did trial_signup, then trial_signup (all within 7 days, starting in the last 30 days)"
    )
    assert not page.errors


def test_a_sequence_row_excludes_an_event_in_between(site: Site, browser: Any) -> None:
    """'+ Without an event in between' adds not_between: its type is picked like a step's, the
    text syntax spells it `without "X" in between`, the saved segment says it, and Remove
    takes it off again."""
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/segments/new")
    page.get_by_label("Name", exact=True).fill("Signed up, no cancel")
    page.get_by_role("button", name="+ Sequence").click()
    row = page.get_by_role("group", name="Sequence")
    row.get_by_role("button", name="+ Without an event in between").click()
    excluded = row.get_by_role("group", name="Not in between")
    pick(excluded, "Event type not in between", "cancel")
    page.get_by_text("Text syntax", exact=True).click()
    expect(page.locator("#filter-text")).to_have_value(
        'all(performed "trial_signup" then "trial_signup" within 7 days'
        ' without "cancel" in between)'
    )
    page.get_by_role("button", name="Create Segment").click()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))
    expect(page.locator("#conditions")).to_contain_text(
        "Did trial_signup, then trial_signup (all within 7 days, without cancel in between)"
    )
    assert not page.errors


def test_removing_the_excluded_event_leaves_the_sequence(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/segments/new")
    page.get_by_role("button", name="+ Sequence").click()
    row = page.get_by_role("group", name="Sequence")
    row.get_by_role("button", name="+ Without an event in between").click()
    row.get_by_role("button", name="Remove the event not in between").click()
    expect(row.get_by_role("group", name="Not in between")).to_have_count(0)
    page.get_by_text("Text syntax", exact=True).click()
    expect(page.locator("#filter-text")).to_have_value(
        'all(performed "trial_signup" then "trial_signup" within 7 days)'
    )
    assert not page.errors
