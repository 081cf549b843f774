"""Owners in a real browser: "Assigned to me" on Leads, and a bulk assignment picked from the
organization's users."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from segmint import auth
from segmint.store.tables import leads
from tests.web.conftest import Site, log_in, open_page


def _assign(site: Site, owner: str, emails: list[str]) -> None:
    with site.engine.begin() as conn:
        conn.execute(leads.update().where(leads.c.email.in_(emails)).values(owner=owner))


def _owners(site: Site, emails: list[str]) -> list[str | None]:
    with site.engine.connect() as conn:
        rows = conn.execute(
            sa.select(leads.c.owner).where(leads.c.email.in_(emails)).order_by(leads.c.email)
        )
        return list(rows.scalars())


def test_assigned_to_me_then_assign_the_rest_to_a_colleague(site: Site, browser: Any) -> None:
    with site.engine.begin() as conn:
        auth.create_user(conn, site.project.organization_id, "rep@acme.test", "member")
    _assign(site, site.email, ["lead01@example.com", "lead02@example.com"])
    _assign(site, "rep@acme.test", ["lead03@example.com"])
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/leads")
    expect(page.locator("#lead-table .pager")).to_contain_text("60 in all")

    page.get_by_label("Assigned to me").check()
    expect(page.locator("#lead-table .pager")).to_contain_text("2 in all")
    expect(page.get_by_role("row").filter(has_text="lead01@example.com")).to_be_visible()
    expect(page.get_by_role("button", name="Save filter as segment")).to_be_enabled()

    page.get_by_label("Select First01 Last01").check()
    page.get_by_label("Action on the selected leads").select_option(label="Set owner…")
    page.get_by_role("button", name="Apply", exact=True).click()
    dialog = page.get_by_role("dialog")
    picker = dialog.get_by_label("Set owner")
    expect(picker.locator("option")).to_have_text(
        ["No owner (unassigned)", f"{site.email} (me)", "rep@acme.test"]
    )
    picker.select_option("rep@acme.test")
    dialog.get_by_role("button", name="Apply").click()
    expect(page.locator(".toast").last).to_have_text("Set owner: done, 1 of 1 lead changed.")
    expect(page.locator("#lead-table .pager")).to_contain_text("1 in all")  # no longer mine
    assert _owners(site, ["lead01@example.com", "lead02@example.com", "lead03@example.com"]) == [
        "rep@acme.test",
        site.email,
        "rep@acme.test",
    ]

    page.get_by_label("Assigned to me").uncheck()
    expect(page.locator("#lead-table .pager")).to_contain_text("60 in all")
    assert page.errors == []
