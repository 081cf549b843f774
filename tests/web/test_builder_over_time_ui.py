"""The builder in a real browser: an event's options over time (contract 3b) and distinct event
types are shown from the text syntax, described in words, edited, and saved as typed."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, log_in, open_page, screenshot

TEXT = (
    'performed "purchase" within 60 days older than 30 days on at least 2 days '
    "with sum(amount) >= 500 or performed 2 distinct events within 30 days"
)


def test_options_over_time_round_trip_through_the_builder(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/segments/new")
    expect(page.get_by_role("button", name="+ Condition")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Lapsed buyers")
    page.get_by_text("Text syntax", exact=True).click()
    page.locator("#filter-text").fill(TEXT)
    page.get_by_role("button", name="Create Segment").click()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))
    conditions = page.locator("#conditions")
    expect(conditions).to_contain_text("in the last 60 days but not in the last 30 days")
    expect(conditions).to_contain_text("on at least 2 days, total amount ≥ 500")
    expect(conditions).to_contain_text("Did at least 2 distinct events in the last 30 days")

    page.goto(page.url + "/edit")
    event = page.get_by_role("group", name="Event condition")
    expect(event.get_by_label("Not in the last days (older than)")).to_have_value("30")
    expect(event.get_by_label("On at least how many distinct days")).to_have_value("2")
    expect(event.get_by_label("Metadata path to aggregate")).to_have_value("amount")
    distinct = page.get_by_role("group", name="Distinct event types")
    expect(distinct.get_by_label("How many distinct event types")).to_have_value("2")
    distinct.get_by_label("Event types (comma separated; blank: any)").fill("webinar, demo")
    event.get_by_label("Aggregate", exact=True).select_option("max")
    screenshot(page, site, "builder-over-time", "desktop")
    page.get_by_role("button", name="Save Changes").click()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))
    expect(page.locator("#conditions")).to_contain_text("highest amount ≥ 500")
    expect(page.locator("#conditions")).to_contain_text("distinct events of webinar, demo")
    assert not page.errors
