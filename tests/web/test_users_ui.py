"""The organization's users on the Settings page, in a real browser: a role changed where it is
shown, the last owner kept, a teammate removed and logged out at once."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from segmint import auth
from tests.web.conftest import PASSWORD, Site, log_in, open_page


def test_change_a_role_keep_the_last_owner_and_remove_a_user(site: Site, browser: Any) -> None:
    with site.engine.begin() as conn:
        ann = auth.create_user(conn, site.project.organization_id, "ann@acme.test", "member")
        auth.set_password(conn, ann, PASSWORD)
    theirs = open_page(browser, "desktop")  # Ann, logged in elsewhere
    log_in(theirs, Site(site.url, site.engine, site.project, "ann@acme.test"))

    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/settings")
    users = page.locator("#users")
    page.get_by_label("Role of ann@acme.test").select_option("admin")
    expect(page.locator(".toast").last).to_contain_text("ann@acme.test is now admin")
    expect(page.get_by_label("Role of ann@acme.test")).to_have_value("admin")

    # The only owner cannot step down: the refusal is shown and the role shown stays owner.
    page.get_by_label("Role of owner@acme.test").select_option("member")
    expect(page.locator(".toast").last).to_contain_text("last owner")
    expect(page.get_by_label("Role of owner@acme.test")).to_have_value("owner")

    users.get_by_role("button", name="Remove ann@acme.test").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("can no longer log in")
    dialog.get_by_role("button", name="Remove").click()
    expect(users).not_to_contain_text("ann@acme.test")
    expect(users).to_contain_text("owner@acme.test")

    theirs.reload()  # Ann's session ended with her removal
    expect(theirs).to_have_url(f"{site.url}/login?next=/p/default/segments")
    assert page.errors == [] and theirs.errors == []
