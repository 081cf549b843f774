"""Organising segments in a real browser: the list filtered by creator and tag, each row's
conditions in words and its tags; tags set in the form; a segment's saved versions read and an
old one restored after a confirm."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from segmint import auth
from segmint.engine import segments
from segmint.model import Role
from tests.web.conftest import Site, log_in, open_page, screenshot, seed_leads

NEW = {"field": "status", "op": "eq", "value": "new"}
CONTACTED = {"field": "status", "op": "eq", "value": "contacted"}


def _api(page: Any, method: str, path: str, body: dict[str, Any]) -> Any:
    """Through the page's own API client (the session cookie and its CSRF token)."""
    script = "([method, path, body]) => api(path, { method, body })"
    return page.evaluate(script, [method, path, body])


def _admins_segment(site: Site) -> None:
    """A segment made by another user of the organization."""
    with site.engine.begin() as conn:
        admin_id = auth.create_user(conn, site.project.organization_id, "admin@acme.test", "admin")
        admin = auth.Principal(
            admin_id, site.project.organization_id, "admin@acme.test", Role.ADMIN, None
        )
        data = {"name": "Admin's", "filter": CONTACTED, "tags": ["Q4"]}
        segments.create_segment(conn, site.project, admin, data)


def _names(page: Any) -> Any:
    return page.locator("#segment-rows tr td.title a")


def test_the_list_filters_by_creator_and_tag_and_reads_each_rules(site: Site, browser: Any) -> None:
    _admins_segment(site)
    page = open_page(browser, "desktop")
    log_in(page, site)
    _api(
        page, "POST", "/segments", {"name": "New leads", "filter": NEW, "tags": ["q4", "outreach"]}
    )
    trial = {"and": [NEW, {"event": "trial_signup", "within_days": 14}]}
    _api(page, "POST", "/segments", {"name": "Trial", "filter": trial})
    page.reload()

    expect(_names(page)).to_have_text(["Trial", "New leads"])  # "My segments"
    rows = page.locator("#segment-rows tr")
    expect(rows.nth(0).locator(".rules")).to_have_text(
        "Status is new and Did trial_signup at least 1 time in the last 14 days"
    )
    expect(rows.nth(1).locator(".rules")).to_have_text("Status is new")
    expect(rows.nth(1).locator(".tag")).to_have_text(["outreach", "Q4"])  # the project's spelling
    expect(page.get_by_label("Created by")).to_be_hidden()

    page.get_by_label("Tag").select_option("outreach")
    expect(_names(page)).to_have_text(["New leads"])
    page.get_by_label("Tag").select_option("")

    page.get_by_role("button", name="All organization segments").click()
    expect(_names(page)).to_have_text(["Trial", "New leads", "Admin's"])
    creator = page.get_by_label("Created by")
    creator.select_option("admin@acme.test")
    expect(_names(page)).to_have_text(["Admin's"])
    expect(page.locator("#segment-rows .rules")).to_have_text("Status is contacted")
    creator.select_option("me")
    expect(_names(page)).to_have_text(["Trial", "New leads"])
    creator.select_option("")
    # A tag in a row filters by it: with "Anyone", both segments tagged Q4.
    rows.nth(1).get_by_role("button", name="Q4").click()
    expect(page.get_by_label("Tag")).to_have_value("Q4")
    expect(_names(page)).to_have_text(["New leads", "Admin's"])
    page.get_by_label("Search segments").fill("admin")
    expect(_names(page)).to_have_text(["Admin's"])
    screenshot(page, site, "segments-organised", "desktop")
    assert not page.errors


def test_tags_in_the_form_and_versions_read_and_restored(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    _api(page, "POST", "/segments", {"name": "Other", "filter": NEW, "tags": ["outreach"]})
    made = _api(page, "POST", "/segments", {"name": "Fresh", "filter": NEW})
    sid = made["id"]

    page.goto(f"{site.url}/p/default/segments/{sid}/edit")
    name = page.get_by_label("Name", exact=True)
    expect(name).to_have_value("Fresh")  # the form has loaded the segment
    name.fill("Renamed")
    page.get_by_role("button", name="Add tag outreach").click()
    tags = page.get_by_label("Tags")
    expect(tags).to_have_value("outreach")
    tags.fill("outreach, Q4 ,  ")
    page.get_by_role("button", name="Save Changes").click()
    page.wait_for_url(f"**/segments/{sid}")
    expect(page.get_by_label("Tags")).to_have_text("outreachQ4")
    _api(page, "PATCH", f"/segments/{sid}", {"filter": CONTACTED})
    page.reload()

    versions = page.locator("#versions .versions > li")
    expect(versions).to_have_count(3)
    newest, renamed, first = versions.nth(0), versions.nth(1), versions.nth(2)
    expect(newest).to_contain_text("Version 3")
    expect(newest).to_contain_text("current")
    expect(newest).to_contain_text("owner@acme.test")
    expect(newest.locator(".rules")).to_have_text("Status is contacted")
    expect(first.locator(".rules")).to_have_text("Status is new")
    expect(newest.get_by_role("button", name="Restore version 3")).to_have_count(0)

    first.get_by_role("button", name="Read version 1").click()
    body = first.locator(".version-body")
    expect(body).to_be_visible()
    expect(body).to_contain_text("Fresh")
    expect(body.locator("ul.why")).to_have_text("Status is new")
    expect(renamed.locator(".version-body")).to_be_hidden()

    first.get_by_role("button", name="Restore version 1").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Restore version 1?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#segment-head h1")).to_have_text("Renamed")
    expect(versions).to_have_count(3)

    first.get_by_role("button", name="Restore version 1").click()
    page.get_by_role("dialog").get_by_role("button", name="Restore").click()
    expect(page.locator(".toast")).to_have_text("Version 1 restored.")
    expect(page.locator("#segment-head h1")).to_have_text("Fresh")
    expect(page.locator("#conditions")).to_have_text("Status is new")
    new_leads = sum(1 for lead in seed_leads() if lead["status"] == "new")
    expect(page.locator("#member-count")).to_have_text(str(new_leads))
    expect(versions).to_have_count(4)
    expect(versions.nth(0)).to_contain_text("Version 4")
    expect(versions.nth(0)).to_contain_text("restored version 1")
    screenshot(page, site, "segment-versions", "desktop")
    assert not page.errors


def test_a_late_answer_to_an_earlier_choice_never_replaces_a_later_ones(
    site: Site, browser: Any
) -> None:
    """A creator is chosen, then text typed before the list came back: the answer to the
    choice, held back until the search's has been shown, is dropped when it comes."""
    _admins_segment(site)
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.get_by_role("button", name="All organization segments").click()
    expect(_names(page)).to_have_text(["Admin's"])
    held: list[Any] = []

    def hold_all_but_searches(route: Any) -> None:
        if "q=" in route.request.url:
            route.continue_()
        else:
            held.append(route)

    page.route(re.compile(r"/segments\?"), hold_all_but_searches)
    page.get_by_label("Created by").select_option("admin@acme.test")
    page.get_by_label("Search segments").fill("nothing like it")
    expect(page.locator("#segment-rows")).to_have_text(
        "No segment matches your search and filters."
    )
    assert len(held) == 1
    with page.expect_response(lambda response: response.request == held[0].request):
        held[0].continue_()
    page.wait_for_timeout(300)  # the page has read the late answer
    expect(page.locator("#segment-rows")).to_have_text(
        "No segment matches your search and filters."
    )
