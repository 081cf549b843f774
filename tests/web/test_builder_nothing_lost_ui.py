"""The builder in a real browser: each row's own count and the share of all leads, and nothing
typed is lost (text syntax not applied, leaving with changes, a search on the Leads page)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, log_in, open_page, pick, screenshot, seed_leads

LEADS = seed_leads()


def _new_segment(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/p/default/segments/new")
    expect(page.get_by_role("button", name="+ Condition")).to_be_visible()


def test_each_row_counts_and_the_total_is_a_share_of_all_leads(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    _new_segment(page, site)
    page.get_by_role("button", name="+ Condition").click()
    pick(page, "Value for Status", "new")
    page.get_by_role("button", name="+ Condition").click()
    second = page.get_by_role("group", name="Condition", exact=True).nth(1)
    pick(second, "Field", "Source")
    pick(second, "Value for Source", "webinar")
    rows = page.get_by_role("group", name="Condition", exact=True)
    new = sum(1 for lead in LEADS if lead["status"] == "new")
    webinar = sum(1 for lead in LEADS if lead["source"] == "webinar")
    both = sum(1 for lead in LEADS if lead["status"] == "new" and lead["source"] == "webinar")
    expect(rows.nth(0).locator(".row-count")).to_have_text(f"{new} leads")
    expect(rows.nth(1).locator(".row-count")).to_have_text(f"{webinar} leads")
    expect(page.locator("#live-count")).to_have_text(f"{both} leads match your filters")
    share = f"{round(100 * both / len(LEADS))}% of all {len(LEADS)} leads"
    expect(page.locator("#live-share")).to_have_text(share)
    screenshot(page, site, "builder-row-counts", "desktop")
    assert not page.errors


def test_text_typed_and_not_applied_is_applied_on_save(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    _new_segment(page, site)
    page.get_by_label("Name", exact=True).fill("Typed")
    page.get_by_role("button", name="Create Segment").click()
    expect(page.locator("#form-error")).to_have_text(
        "Add at least one condition (or type one in the text syntax) before saving."
    )

    page.get_by_text("Text syntax", exact=True).click()
    page.locator("#filter-text").fill('source = "webinar" and')
    page.get_by_label("Name", exact=True).click()  # the box loses focus, the count refreshes
    page.wait_for_timeout(500)  # past the count's debounce: what is typed stays typed
    expect(page.locator("#filter-text")).to_have_value('source = "webinar" and')
    page.get_by_role("button", name="Create Segment").click()
    expect(page.locator("#text-error")).to_contain_text("line 1")
    expect(page.locator("#form-error")).to_contain_text("The text syntax has an error")
    assert "/segments/new" in page.url  # nothing saved

    page.locator("#filter-text").fill('source = "webinar"')
    page.get_by_role("button", name="Create Segment").click()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))
    webinar = sum(1 for lead in LEADS if lead["source"] == "webinar")
    expect(page.locator("#member-count")).to_have_text(str(webinar))
    expect(page.locator("#conditions")).to_contain_text("Source is webinar")
    assert not page.errors


def test_leaving_with_changes_asks_first(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    _new_segment(page, site)
    asked: list[str] = []

    def stay(dialog: Any) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)
    page.get_by_label("Name", exact=True).fill("Half done")
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_timeout(300)
    assert asked == ["beforeunload"]
    assert "/segments/new" in page.url
    expect(page.get_by_label("Name", exact=True)).to_have_value("Half done")

    page.remove_listener("dialog", stay)
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url("**/p/default/segments")
    assert not page.errors


def test_an_untouched_form_leaves_without_asking(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    _new_segment(page, site)
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.wait_for_load_state("networkidle")
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url("**/p/default/segments")
    assert asked == []


def test_save_filter_as_segment_keeps_the_search(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/leads")
    save = page.get_by_role("button", name="Save filter as segment")
    expect(save).to_be_disabled()
    page.get_by_label("Search leads").fill("initech")
    expect(save).to_be_enabled()
    save.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(
        "The search “initech” is kept as a condition: name, email or company contains “initech”."
    )
    dialog.get_by_label("Segment name").fill("Initech people")
    dialog.get_by_role("button", name="Create Segment").click()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))
    initech = sum(1 for lead in LEADS if lead["company"] == "Initech")
    expect(page.locator("#member-count")).to_have_text(str(initech))
    expect(page.locator("#conditions")).to_contain_text("Company contains initech")
    assert not page.errors
