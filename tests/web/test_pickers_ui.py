"""The builder's pickers in a real browser: a searchable field picker grouped as users look for
a field, values offered from the data with their counts (chips where several are allowed), and
event types and their metadata keys offered from the events."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from segmint.ingest import ingest_events
from tests.web.conftest import Site, log_in, open_page, pick, screenshot, seed_leads

LEADS = seed_leads()


def _new_segment(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/p/default/segments/new")
    page.get_by_role("button", name="+ Condition").click()


def _open(scope: Any, label: str) -> Any:
    """Opens a picker and answers its open list of options."""
    box = scope.get_by_role("combobox", name=label, exact=True)
    box.locator("xpath=ancestor::div[contains(@class, 'ts-control')]").click()
    return scope.page.locator(".ts-dropdown:visible")


def test_values_come_from_the_data_with_their_counts(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    _new_segment(page, site)
    row = page.get_by_role("group", name="Condition", exact=True).first
    pick(row, "Field", "Source")
    row.get_by_label("Operator").select_option("in")
    options = _open(row, "Value for Source")
    referral = sum(1 for lead in LEADS if lead["source"] == "referral")
    webinar = len(LEADS) - referral
    expect(options.locator(".option").nth(0)).to_have_text(f"referral{referral}")
    expect(options.locator(".option").nth(1)).to_have_text(f"webinar{webinar}")
    screenshot(page, site, "builder-value-picker", "desktop")
    page.keyboard.type("web")
    expect(options.locator(".option")).to_have_count(1)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    # A chosen value is a chip, removable by its button; the count follows.
    expect(row.locator(".ts-wrapper.multi .item")).to_have_text([re.compile("^webinar")])
    expect(page.locator("#live-count")).to_have_text(f"{webinar} leads match your filters")
    assert not page.errors


def test_the_field_picker_searches_groups_and_turns_into_an_event(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    _new_segment(page, site)
    row = page.get_by_role("group", name="Condition", exact=True).first
    options = _open(row, "Field")
    for group in ("Lead", "Enrichment", "Account", "Scores", "Events"):
        header = options.locator(".optgroup-header", has_text=re.compile(f"^{group}$"))
        expect(header).to_have_count(1)
    page.keyboard.type("size")
    expect(options.locator(".option").first).to_have_text("Company size")
    page.keyboard.press("Escape")

    pick(row, "Field", "Did trial_signup")
    event = page.get_by_role("group", name="Event condition")
    expect(event.get_by_role("combobox", name="Event type")).to_be_visible()
    type_picker = event.get_by_role("combobox", name="Event type").locator(
        "xpath=ancestor::div[contains(@class, 'ts-control')]"
    )
    expect(type_picker.locator(".item")).to_have_text("trial_signup")
    signed_up = len(range(0, len(LEADS), 2))
    expect(page.locator("#live-count")).to_have_text(f"{signed_up} leads match your filters")
    assert not page.errors


def test_event_types_and_metadata_keys_are_offered(site: Site, browser: Any) -> None:
    ingest_events(
        site.engine,
        site.project,
        enumerate(
            {"email": "lead01@example.com", "type": "page_view", "metadata": {"path": p}}
            for p in ("/pricing", "/pricing", "/blog")
        ),
    )
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/segments/new")
    page.get_by_role("button", name="+ Event", exact=True).click()
    event = page.get_by_role("group", name="Event condition")
    types = _open(event, "Event type")
    expect(types.locator(".option", has_text="page_view")).to_contain_text("1")
    page.keyboard.type("page")
    expect(types.locator(".active")).to_contain_text("page_view")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="New segment").click()  # done with the picker
    expect(page.locator(".ts-dropdown:visible")).to_have_count(0)
    event.get_by_role("button", name="+ Where").click()
    where = event.get_by_role("group", name="Condition", exact=True)
    keys = _open(where, "Event metadata key")
    expect(keys.locator(".option")).to_have_text(["path"])
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="New segment").click()
    values = _open(where, "Value for path")
    expect(values.locator(".option").nth(0)).to_have_text("/pricing2")
    expect(values.locator(".option").nth(1)).to_have_text("/blog1")
    screenshot(page, site, "builder-event-where", "desktop")
    assert not page.errors


def test_the_keyboard_keeps_its_place_when_a_row_is_redrawn(site: Site, browser: Any) -> None:
    """Choosing a field redraws its row (operators and values follow the field): focus comes
    back to the field picker of that row, closed, so Tab goes on to the operator."""
    page = open_page(browser, "desktop")
    log_in(page, site)
    _new_segment(page, site)
    row = page.get_by_role("group", name="Condition", exact=True).first
    row.get_by_role("combobox", name="Field", exact=True).focus()
    page.keyboard.type("job title")
    expect(page.locator(".ts-dropdown:visible .active")).to_have_text("Job title")
    page.keyboard.press("Enter")
    expect(row.get_by_role("combobox", name="Value for Job title")).to_be_attached()
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "Field"
    expect(page.locator(".ts-dropdown:visible")).to_have_count(0)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Operator"
    assert not page.errors
