"""Editing a lead on its page in a real browser: standard fields, status and source, tags and
declared custom fields; the API's errors beside their fields; cancel; the unsaved-changes
prompt; narrow screens and the keyboard; every role may edit."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from segmint import auth
from tests.web.conftest import PASSWORD, Site, log_in, open_page, screenshot

CUSTOM_FIELDS = [
    {"key": "plan", "type": "select", "options": ["free", "pro"]},
    {"key": "seats", "type": "number"},
    {"key": "renewal", "type": "date"},
    {"key": "trial", "type": "boolean"},
]


def call(page: Any, site: Site, method: str, path: str, body: Any = None) -> Any:
    """The REST API with the page's session, as its scripts call it (CSRF header included)."""
    response = page.request.fetch(
        f"{site.url}/api/v1/projects/default/{path}",
        method=method,
        data=body,
        headers={"X-CSRF-Token": page.evaluate("BOOT.csrf")},
    )
    assert response.ok, response.text()
    return response.json()


def lead_id(page: Any, site: Site, email: str) -> int:
    found = call(page, site, "GET", f"leads?q={email}")["items"]
    assert len(found) == 1, found
    return int(found[0]["id"])


def open_lead(page: Any, site: Site, email: str) -> int:
    """Goes to the lead's page, once its fields are shown; returns its id."""
    found = lead_id(page, site, email)
    page.goto(f"{site.url}/p/default/leads/{found}")
    expect(page.locator("#lead-fields table")).to_be_visible()
    return found


def field_row(page: Any, name: str) -> Any:
    return page.locator("#lead-fields tr", has=page.locator(f'th:text-is("{name}")'))


def test_edit_fields_tags_and_custom_fields_then_reload(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    for spec in CUSTOM_FIELDS:
        call(page, site, "POST", "custom-fields", spec)
    qualified_pros = {
        "and": [
            {"field": "status", "op": "eq", "value": "qualified"},
            {"field": "custom.plan", "op": "eq", "value": "pro"},
        ]
    }
    call(page, site, "POST", "segments", {"name": "Qualified pros", "filter": qualified_pros})
    lead = open_lead(page, site, "lead00@example.com")  # new, webinar, tagged vip
    expect(page.locator("#lead-segments")).to_have_text("In no segment right now.")

    page.get_by_role("button", name="Edit").click()
    expect(page.get_by_label("Email", exact=True)).to_be_focused()
    expect(page.get_by_label("Status")).to_have_value("new")
    expect(page.get_by_label("Source", exact=True)).to_have_value("webinar")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Company").fill("Analytical Engines")
    page.get_by_label("Phone", exact=True).fill("+44 20 7946 0000")
    page.get_by_label("Phone type").select_option("mobile")
    page.get_by_label("Status").select_option("qualified")
    page.get_by_label("Source", exact=True).select_option(label="Other…")
    expect(page.get_by_label("New source")).to_be_focused()
    page.get_by_label("New source").fill("conference")
    page.get_by_label("Add a tag").fill("hot")
    page.get_by_label("Add a tag").press("Enter")  # adds the tag; does not save
    page.get_by_role("button", name="Remove tag vip").click()
    expect(page.locator("#lead-form .tag-list li")).to_have_text(["hot×"])
    page.get_by_label("Plan").select_option("pro")
    page.get_by_label("Seats").fill("12")
    page.get_by_label("Renewal").fill("2027-03-01")
    page.get_by_label("Trial").select_option(label="Yes")
    screenshot(page, site, "lead-edit", "desktop")
    page.get_by_role("button", name="Save").click()

    expect(page.locator(".toast").last).to_have_text("Lead saved.")
    expect(page.locator("#lead-head h1")).to_have_text("Ada Last00")
    expect(page.get_by_role("button", name="Edit")).to_be_focused()
    # Membership changed with the edit: the Segments card is evaluated again.
    expect(page.locator("#lead-segments")).to_have_text("Qualified pros")

    page.reload()
    expect(field_row(page, "company")).to_contain_text("Analytical Engines")
    expect(field_row(page, "status")).to_contain_text("qualified")
    expect(field_row(page, "source")).to_contain_text("conference")
    expect(field_row(page, "tags")).to_have_text("tagshot")
    expect(field_row(page, "custom seats")).to_contain_text("12")
    stored = call(page, site, "GET", f"leads/{lead}")
    assert (stored["first_name"], stored["phone"], stored["phone_type"]) == (
        "Ada",
        "+44 20 7946 0000",
        "mobile",
    )
    assert stored["tags"] == ["hot"]
    assert stored["custom"] == {"plan": "pro", "seats": 12, "renewal": "2027-03-01", "trial": True}

    # The form opens on the stored values; emptying a field clears it.
    page.get_by_role("button", name="Edit").click()
    expect(page.get_by_label("Seats")).to_have_value("12")
    expect(page.get_by_label("Source", exact=True)).to_have_value("conference")
    expect(page.get_by_label("Trial")).to_have_value("true")
    page.get_by_label("Seats").fill("")
    page.get_by_label("Company").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".toast").last).to_have_text("Lead saved.")
    stored = call(page, site, "GET", f"leads/{lead}")
    assert stored["company"] is None
    assert stored["custom"] == {"plan": "pro", "renewal": "2027-03-01", "trial": True}
    assert page.errors == []


def test_errors_are_shown_beside_their_fields_and_nothing_typed_is_lost(
    site: Site, browser: Any
) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    lead = open_lead(page, site, "lead00@example.com")
    page.get_by_role("button", name="Edit").click()
    email = page.get_by_label("Email", exact=True)
    owner = page.get_by_label("Owner", exact=True)
    email.fill("not-an-email")
    page.get_by_label("Company").fill("Kept Co")
    page.get_by_label("Add a tag").fill("pending")  # typed, not added: still saved
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#edit-email-error")).to_have_text("'not-an-email' is not an email address")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()
    expect(email).to_have_value("not-an-email")
    expect(page.get_by_label("Company")).to_have_value("Kept Co")
    expect(page.get_by_label("Add a tag")).to_have_value("pending")

    # The owner is one of the organization's users, picked from a list that marks the reader.
    expect(owner.locator(f'option[value="{site.email}"]')).to_have_text(f"{site.email} (me)")
    owner.select_option(site.email)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#edit-email-error")).to_have_text("'not-an-email' is not an email address")
    expect(owner).to_have_value(site.email)

    # Another lead's email: said plainly, with a way to that lead.
    email.fill("lead01@example.com")
    page.get_by_role("button", name="Save").click()
    error = page.locator("#edit-email-error")
    expect(error).to_contain_text("Another lead already has this email.")
    other = lead_id(page, site, "lead01@example.com")
    expect(error.get_by_role("link", name=f"Open lead {other}")).to_have_attribute(
        "href", f"/p/default/leads/{other}"
    )
    assert call(page, site, "GET", f"leads/{lead}")["company"] == "Initech"  # nothing saved

    email.fill("ada@example.com")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".toast").last).to_have_text("Lead saved.")
    stored = call(page, site, "GET", f"leads/{lead}")
    assert (stored["email"], stored["company"]) == ("ada@example.com", "Kept Co")
    assert stored["tags"] == ["vip", "pending"] and stored["owner"] == site.email
    assert page.errors == []


def test_cancel_restores_and_leaving_with_unsaved_edits_asks(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    lead = open_lead(page, site, "lead02@example.com")
    page.get_by_role("button", name="Edit").click()
    page.get_by_label("Company").fill("Unsaved Co")
    page.get_by_role("button", name="Cancel").click()
    expect(field_row(page, "company")).to_contain_text("Company 02")
    expect(page.get_by_role("button", name="Edit")).to_be_focused()
    page.get_by_role("button", name="Edit").click()
    expect(page.get_by_label("Company")).to_have_value("Company 02")

    page.get_by_label("Company").fill("Unsaved Co")
    asked: list[str] = []

    def stay(dialog: Any) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)
    page.get_by_role("link", name="Back to Leads").click()
    expect(page.get_by_label("Company")).to_have_value("Unsaved Co")  # still here, still typed
    assert asked == ["beforeunload"]
    assert page.url.endswith(f"/leads/{lead}")
    page.remove_listener("dialog", stay)

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("link", name="Back to Leads").click()
    page.wait_for_url("**/p/default/leads")
    assert call(page, site, "GET", f"leads/{lead}")["company"] == "Company 02"
    assert page.errors == []


def test_narrow_screen_and_keyboard(site: Site, browser: Any) -> None:
    page = open_page(browser, "mobile")
    log_in(page, site)
    long_word = "Supercalifragilistic" * 15  # 300 characters without a space
    lead = lead_id(page, site, "lead03@example.com")
    call(
        page,
        site,
        "PATCH",
        f"leads/{lead}",
        {"company": long_word, "job_title": long_word, "tags": [long_word[:100], "b"]},
    )
    page.goto(f"{site.url}/p/default/leads/{lead}")
    expect(page.locator("#lead-fields table")).to_be_visible()
    assert_no_sideways_scroll(page)

    edit = page.get_by_role("button", name="Edit")
    edit.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Email", exact=True)).to_be_focused()
    tag_input = page.get_by_label("Add a tag")
    tag_input.focus()
    page.keyboard.type("c,d,")  # a comma adds each
    expect(page.locator("#lead-form .tag-list li")).to_have_count(4)
    page.get_by_role("button", name="Remove tag b").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Remove tag c")).to_be_focused()  # the next one
    assert_no_sideways_scroll(page)
    screenshot(page, site, "lead-edit", "mobile")

    page.get_by_label("Job title").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("CTO")
    page.keyboard.press("Enter")  # Enter in a field saves, as in any form
    expect(page.locator(".toast").last).to_have_text("Lead saved.")
    stored = call(page, site, "GET", f"leads/{lead}")
    assert stored["job_title"] == "CTO" and stored["tags"] == [long_word[:100], "c", "d"]
    assert_no_sideways_scroll(page)
    assert page.errors == []


def assert_no_sideways_scroll(page: Any) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"


def test_every_role_may_edit_a_lead(site: Site, browser: Any) -> None:
    """Owners, admins and members all write leads (docs/api.md): a member is offered Edit."""
    with site.engine.begin() as conn:
        member_id = auth.create_user(conn, site.project.organization_id, "m@acme.test", "member")
        auth.set_password(conn, member_id, PASSWORD)
    page = open_page(browser, "desktop")
    log_in(page, Site(site.url, site.engine, site.project, "m@acme.test"))
    lead = open_lead(page, site, "lead04@example.com")
    page.get_by_role("button", name="Edit").click()
    page.get_by_label("Job title").fill("Head of Sales")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".toast").last).to_have_text("Lead saved.")
    assert call(page, site, "GET", f"leads/{lead}")["job_title"] == "Head of Sales"
    assert page.errors == []
