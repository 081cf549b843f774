"""A segment's page says what it is and what depends on it, in a real browser: its conditions in
words, its share of all leads, the campaigns, segments and lists that use it; and deleting a
segment or list that others use names them in the dialog and offers to delete it anyway."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, log_in, open_page, screenshot, seed_leads

NEW = {"field": "status", "op": "eq", "value": "new"}


def _post(page: Any, path: str, body: dict[str, Any]) -> Any:
    """Creates through the page's own API client (the session cookie and its CSRF token)."""
    return page.evaluate("([path, body]) => api(path, { method: 'POST', body })", [path, body])


def _used_segment(page: Any) -> dict[str, Any]:
    vip = _post(page, "/lists", {"name": "VIP"})
    base = _post(
        page,
        "/segments",
        {
            "name": "New at big companies",
            "filter": {
                "and": [
                    NEW,
                    {"field": "enrichment.company.size", "op": "gte", "value": 50},
                    {"not": {"in_list": vip["id"]}},
                    {"event": "trial_signup", "min_count": 2, "within_days": 14},
                ]
            },
        },
    )
    _post(page, "/segments", {"name": "Outer", "filter": {"in_segment": base["id"]}})
    _post(
        page,
        "/campaigns",
        {
            "name": "Welcome",
            "targeting": {"include_segments": [base["id"]]},
            "subject": "Hi",
            "body": "Hello",
        },
    )
    return {"base": base, "vip": vip}


def test_a_segment_page_reads_its_conditions_share_and_users(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    made = _used_segment(page)
    plain = _post(page, "/segments", {"name": "Just new", "filter": NEW})
    page.goto(f"{site.url}/p/default/segments/{plain['id']}")
    new_leads = sum(1 for lead in seed_leads() if lead["status"] == "new")
    share = f"{round(100 * new_leads / len(seed_leads()))}% of {len(seed_leads())}"
    expect(page.locator("#member-share")).to_have_text(share)
    expect(page.locator("#conditions")).to_have_text("Status is new")
    expect(page.locator("#used-by")).to_have_text("No campaign, segment or list uses this segment.")

    page.goto(f"{site.url}/p/default/segments/{made['base']['id']}")
    conditions = page.locator("#conditions")
    expect(conditions).to_contain_text("All of these")
    expect(conditions).to_contain_text("Status is new")
    expect(conditions).to_contain_text("Company size is at least 50")
    expect(conditions).to_contain_text("None of this")
    expect(conditions.get_by_role("link", name="VIP")).to_be_visible()
    expect(conditions).to_contain_text("Did trial_signup at least 2 times in the last 14 days")
    for raw in (" gte ", "in_list", "within_days", "eq "):
        expect(conditions).not_to_contain_text(raw)
    used_by = page.locator("#used-by")
    expect(used_by.get_by_role("link", name="Welcome")).to_have_attribute(
        "href", "/p/default/campaigns/1"
    )
    expect(used_by.get_by_role("link", name="Outer")).to_be_visible()
    screenshot(page, site, "segment-overview", "desktop")
    assert not page.errors


def test_deleting_a_used_segment_names_its_users_and_deletes_only_when_asked(
    site: Site, browser: Any
) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    made = _used_segment(page)
    page.goto(f"{site.url}/p/default/segments/{made['base']['id']}")
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This segment is used by 2 other objects:")
    expect(dialog.get_by_role("link", name="Welcome")).to_be_visible()
    expect(dialog.get_by_role("link", name="Outer")).to_be_visible()
    expect(dialog).not_to_contain_text("force")
    screenshot(page, site, "segment-delete-used", "desktop")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#segment-head h1")).to_contain_text("New at big companies")

    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete anyway").click()
    page.wait_for_url("**/p/default/segments")
    expect(page.locator(".toast").last).to_have_text("Segment deleted.")
    expect(page.locator("#segment-rows")).not_to_contain_text("New at big companies")
    assert not page.errors


def test_deleting_a_used_list_names_the_segments_that_test_it(site: Site, browser: Any) -> None:
    page = open_page(browser, "mobile")
    log_in(page, site)
    _used_segment(page)
    _post(page, "/lists", {"name": "Unused list"})
    page.goto(f"{site.url}/p/default/lists")
    page.get_by_role("button", name="Delete VIP").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This list is used by 1 other object:")
    expect(dialog.get_by_role("link", name="New at big companies")).to_be_visible()
    screenshot(page, site, "list-delete-used", "mobile")
    dialog.get_by_role("button", name="Delete anyway").click()
    expect(page.locator(".toast").last).to_have_text("List deleted.")
    expect(page.locator("#list-rows")).not_to_contain_text("VIP")

    # A list nothing uses asks the plain question.
    page.get_by_role("button", name="Delete Unused list").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).not_to_contain_text("used by")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("#list-rows")).not_to_contain_text("Unused list")
    assert not page.errors
