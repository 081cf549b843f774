"""The organization's users on the Settings page, in a real browser: a role changed where it is
shown, the last owner kept, a teammate removed and logged out at once."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from segmint import auth
from segmint.ingest import upsert_leads
from segmint.store import tables
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
    page.get_by_role("dialog").get_by_role("button", name="Become member").click()
    expect(page.locator(".toast").last).to_contain_text("last owner")
    expect(page.get_by_label("Role of owner@acme.test")).to_have_value("owner")

    upsert_leads(
        site.engine, site.project, enumerate([{"email": "l@x.test", "owner": "ann@acme.test"}])
    )
    users.get_by_role("button", name="Remove ann@acme.test").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("can no longer log in")
    dialog.get_by_label("Give their leads to").select_option("owner@acme.test")
    dialog.get_by_role("button", name="Remove").click()
    expect(page.locator(".toast").last).to_contain_text("given to owner@acme.test")
    gone = users.get_by_role("row", name="ann@acme.test")
    expect(gone).to_contain_text("admin, removed")
    expect(gone.get_by_label("Role of ann@acme.test")).to_have_count(0)
    assert _owner_once_handed_over(site, "l@x.test") == "owner@acme.test"

    theirs.reload()  # Ann's session ended with her removal
    expect(theirs).to_have_url(f"{site.url}/login?next=/p/default/segments")

    # Restored: the form takes her email and role, and a new password.
    users.get_by_role("button", name="Restore ann@acme.test").click()
    expect(page.locator("#user-email")).to_have_value("ann@acme.test")
    expect(page.locator("#user-role")).to_have_value("admin")
    page.locator("#user-password").fill("a brand new passphrase")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator(".toast").last).to_contain_text("ann@acme.test restored")
    expect(page.get_by_label("Role of ann@acme.test")).to_have_value("admin")
    with site.engine.connect() as conn:
        back = auth.authenticate_password(conn, "ann@acme.test", "a brand new passphrase")
    assert back is not None and back.user_id == ann
    assert page.errors == [] and theirs.errors == []


def test_an_admin_stepping_down_is_asked_then_sees_the_page_as_a_member(
    site: Site, browser: Any
) -> None:
    """The page was drawn for an admin: after stepping down it is drawn again for a member
    (before, the Users box turned into a refusal until a reload)."""
    with site.engine.begin() as conn:
        ann = auth.create_user(conn, site.project.organization_id, "ann@acme.test", "admin")
        auth.set_password(conn, ann, PASSWORD)
    page = open_page(browser, "desktop")
    log_in(page, Site(site.url, site.engine, site.project, "ann@acme.test"))
    page.goto(f"{site.url}/p/default/settings")
    users = page.locator("#users")
    expect(users.get_by_role("row", name="ann@acme.test (you)")).to_be_visible()
    expect(users.get_by_role("row", name="owner@acme.test")).not_to_contain_text("(you)")

    role = page.get_by_label("Role of ann@acme.test")
    role.select_option("member")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("no longer manage users")
    dialog.get_by_role("button", name="Cancel").click()
    expect(role).to_have_value("admin")

    role.select_option("member")
    page.get_by_role("dialog").get_by_role("button", name="Become member").click()
    expect(page.get_by_role("heading", name="Users")).to_have_count(0)
    expect(page.locator("#project-name")).to_be_disabled()
    with site.engine.connect() as conn:
        stored = conn.execute(
            sa.select(tables.users.c.role).where(tables.users.c.id == ann)
        ).scalar_one()
    assert stored == "member"
    assert page.errors == []


def _owner_once_handed_over(site: Site, email: str) -> str | None:
    """The lead's owner once the site's worker has run the hand-over (or as it is after 20 s)."""
    query = sa.select(tables.leads.c.owner).where(tables.leads.c.email == email)
    deadline = time.monotonic() + 20
    while True:
        with site.engine.connect() as conn:
            owner = conn.execute(query).scalar()
        if owner != "ann@acme.test" or time.monotonic() > deadline:
            return owner
        time.sleep(0.05)
