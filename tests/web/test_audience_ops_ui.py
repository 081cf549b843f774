"""Working with audiences in a real browser, on both databases: refreshing an inactive segment
from its page, choosing what becomes of the campaigns of a segment being deleted, and creating,
switching to, re-slugging and deleting projects from Settings."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, log_in, open_page, screenshot, seed_leads

NEW = {"field": "status", "op": "eq", "value": "new"}


def _post(page: Any, path: str, body: dict[str, Any]) -> Any:
    """Creates through the page's own API client (the session cookie and its CSRF token)."""
    return page.evaluate("([path, body]) => api(path, { method: 'POST', body })", [path, body])


def test_refreshing_an_inactive_segment_from_its_page(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    live = _post(page, "/segments", {"name": "Live new", "filter": NEW})
    page.goto(f"{site.url}/p/default/segments/{live['id']}")
    expect(page.locator("#segment-state")).to_have_text("Active: always current")
    expect(page.get_by_role("button", name="Deactivate")).to_be_visible()
    expect(page.get_by_role("button", name="Refresh", exact=True)).to_have_count(0)

    frozen = _post(page, "/segments", {"name": "Frozen new", "filter": NEW, "active": False})
    page.goto(f"{site.url}/p/default/segments/{frozen['id']}")
    expect(page.locator("#segment-state")).to_have_text("Inactive (members frozen)")
    expect(page.locator("#member-count")).to_have_text("0")  # created inactive: none stored
    new_leads = sum(1 for lead in seed_leads() if lead["status"] == "new")
    held: list[Any] = []  # the refresh request, held back so the page is seen while it runs
    page.route("**/refresh", lambda route: held.append(route))
    page.get_by_role("button", name="Refresh", exact=True).click()
    expect(page.get_by_role("button", name="Refreshing…")).to_be_disabled()
    expect(page.locator("#refresh-status")).to_contain_text('Refreshing "Frozen new"')
    expect(page.locator("#segment-head")).to_have_attribute("aria-busy", "true")
    while not held:  # the request may reach the route a moment after the button changed
        page.wait_for_timeout(50)
    held[0].continue_()
    expect(page.locator(".toast").last).to_have_text(
        f"Segment refreshed: {new_leads} entered, 0 left, {new_leads} members."
    )
    expect(page.locator("#member-count")).to_have_text(str(new_leads))
    expect(page.locator("#segment-state")).to_have_text("Inactive (members frozen)")
    expect(page.locator("#history .timeline li").first).to_contain_text("refresh")
    expect(page.get_by_role("button", name="Refresh", exact=True)).to_be_enabled()
    screenshot(page, site, "segment-refreshed", "desktop")
    assert not page.errors


def _used_by_campaign(page: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    segment = _post(page, "/segments", {"name": "New leads", "filter": NEW})
    campaign = _post(
        page,
        "/campaigns",
        {
            "name": "Welcome",
            "targeting": {"include_segments": [segment["id"]]},
            "subject": "Hi",
            "body": "Hello",
        },
    )
    return segment, campaign


def test_deleting_a_segment_removes_it_from_its_campaigns(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    segment, campaign = _used_by_campaign(page)
    page.goto(f"{site.url}/p/default/segments/{segment['id']}")
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("group", name="What should happen to the campaign?")).to_be_visible()
    detach = dialog.get_by_role("radio", name="Remove the segment from the campaign")
    expect(detach).to_be_checked()
    screenshot(page, site, "segment-delete-campaigns", "desktop")
    dialog.get_by_role("button", name="Delete anyway").click()
    page.wait_for_url("**/p/default/segments")

    page.goto(f"{site.url}/p/default/campaigns/{campaign['id']}")
    expect(page.locator("#problem-list")).to_contain_text("no target audience")
    assert not page.errors


def test_deleting_a_segment_can_leave_its_campaigns_in_error(site: Site, browser: Any) -> None:
    page = open_page(browser, "mobile")
    log_in(page, site)
    segment, campaign = _used_by_campaign(page)
    page.goto(f"{site.url}/p/default/segments/{segment['id']}")
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("radio", name="Leave the campaign showing an error").check()
    dialog.get_by_role("button", name="Delete anyway").click()
    page.wait_for_url("**/p/default/segments")

    page.goto(f"{site.url}/p/default/campaigns/{campaign['id']}")
    expect(page.locator("#problem-list")).to_contain_text(
        f"segment {segment['id']} was deleted (target audience missing)"
    )
    assert not page.errors


def test_projects_are_created_switched_to_reslugged_and_deleted(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/settings")
    expect(page.locator("#project-switch")).to_have_count(0)  # one project: nothing to switch
    page.get_by_label("New project's slug").fill("Bad Slug")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator("#new-project-error")).to_contain_text("lower-case letters")

    page.get_by_label("New project's name").fill("EMEA sales")
    page.get_by_label("New project's slug").fill("emea")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator(".toast").last).to_contain_text('Project "EMEA sales" created')
    expect(page.locator("#projects")).to_contain_text("EMEA sales")
    switch = page.locator("#project-switch")
    switch.select_option("emea")
    page.wait_for_url("**/p/emea/settings")
    expect(page.locator("#project-name")).to_have_value("EMEA sales")

    # The page's webhooks load is held back until the project is gone: answered late, it
    # fails, and says so in its own section (it was once an uncaught error of the page).
    held: dict[str, Any] = {}
    page.route("**/projects/europe/webhooks", lambda route: held.setdefault("load", route))
    page.route(
        "**/api/v1/projects/europe",
        lambda route: (
            held.setdefault("delete", route)
            if route.request.method == "DELETE"
            else route.continue_()
        ),
    )
    page.get_by_label("Slug of this project").fill("europe")
    page.get_by_role("button", name="Change slug").click()
    page.wait_for_url("**/p/europe/settings")
    expect(page.locator(".toast").last).to_have_text('Slug changed to "europe".')

    page.get_by_role("button", name="Delete this project").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete project").click()
    while len(held) < 2:  # both requests reach their routes a moment after the clicks
        page.wait_for_timeout(50)
    deleted = held["delete"].fetch()  # the project is deleted; the page is not yet told
    held["load"].continue_()
    expect(page.locator("#webhooks [role=alert]")).to_contain_text("no project 'europe'")
    held["delete"].fulfill(response=deleted)
    page.wait_for_url("**/p/default/segments")
    expect(page.locator(".toast").last).to_have_text('Project "europe" deleted.')

    page.goto(f"{site.url}/p/default/settings")
    page.get_by_role("button", name="Delete this project").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete project").click()
    expect(page.locator(".toast").last).to_contain_text(
        f"project 'default' still holds {len(seed_leads())} leads"
    )
    screenshot(page, site, "settings-projects", "desktop")
    assert not page.errors
