"""Manual membership in a real browser, on both databases: "Add to segment" on the Leads page's
selection includes those leads in a chosen segment (reference 004), and the segment's page lists
its included and excluded leads, each removable, with "Exclude" on every member row."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, log_in, open_page, screenshot

NEW = {"field": "status", "op": "eq", "value": "new"}  # 30 of the 60 seeded leads


def _post(page: Any, path: str, body: dict[str, Any]) -> Any:
    return page.evaluate("([path, body]) => api(path, { method: 'POST', body })", [path, body])


def test_add_selected_leads_to_a_segment_then_exclude_and_remove(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    segment = _post(page, "/segments", {"name": "New leads", "filter": NEW})
    _post(page, "/segments", {"name": "Another", "filter": NEW})

    page.goto(f"{site.url}/p/default/leads")
    page.get_by_label("Search leads").fill("Last0")
    expect(page.locator("#lead-table .pager")).to_contain_text("10 in all")
    page.get_by_label("Select First01 Last01").check()  # contacted: not matched by the condition
    page.get_by_label("Select First03 Last03").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    page.get_by_label("Action on the selected leads").select_option(label="Add to segment…")
    page.get_by_role("button", name="Apply", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add to segment: 2 leads")
    expect(dialog).to_contain_text("stay in the segment whatever its conditions say")
    dialog.get_by_label("Add to segment").select_option(label="New leads")
    dialog.get_by_role("button", name="Apply").click()
    expect(page.locator(".toast").last).to_have_text("Add to segment: done, 2 of 2 leads changed.")

    page.goto(f"{site.url}/p/default/segments/{segment['id']}")
    expect(page.locator("#member-count")).to_have_text("32")
    included = page.locator("#included")
    expect(included.get_by_role("link", name="First01 Last01")).to_be_visible()
    expect(included.get_by_role("link", name="First03 Last03")).to_be_visible()
    expect(page.locator("#excluded")).to_have_text("No lead is excluded by hand.")

    page.get_by_label("Search members").fill("First00")
    page.get_by_role("button", name="Exclude First00 Last00").click()
    expect(page.locator("#excluded").get_by_role("link", name="First00 Last00")).to_be_visible()
    expect(page.locator("#member-count")).to_have_text("31")
    # The worker records the exclusion a moment later; the history shows it without a reload.
    latest = page.locator("#history li").first
    expect(latest).to_contain_text("exited", timeout=15000)
    expect(latest).to_contain_text("First00 Last00")
    expect(latest).to_contain_text("manual")

    # "Why?" says a member is in by hand.
    page.get_by_label("Search members").fill("First01")
    page.get_by_role("row", name="First01 Last01").get_by_role("button", name="Why?").click()
    expect(page.locator("#why")).to_contain_text("Included by hand")

    included.get_by_role("button", name="Remove First01 Last01 from included leads").click()
    expect(included.get_by_role("link", name="First01 Last01")).to_have_count(0)
    expect(page.locator("#member-count")).to_have_text("30")
    screenshot(page, site, "segment-manual-membership", "desktop")
    assert not page.errors
