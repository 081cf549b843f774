"""An account segment in a real browser: choose "Accounts", add a "leads matching ... at least
N" row, watch the live count of accounts, save, and see the member accounts and their history
on its page."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from segmint.store.tables import account_membership_history, accounts, leads
from tests.filters.harness import T0
from tests.web.conftest import Site, log_in, open_page, pick, screenshot


def _accounts(site: Site) -> None:
    """Acme holds leads 0, 1, 2 and 4 (seed_leads: the even ones are "new", so three), Globex
    lead 6 (new)."""
    with site.engine.begin() as conn:
        for name, domain, numbers in (("Acme", "acme.com", (0, 1, 2, 4)), ("Globex", None, (6,))):
            account_id = conn.execute(
                accounts.insert()
                .values(
                    project_id=site.project.id,
                    name=name,
                    domain=domain,
                    metadata={},
                    created_at=T0,
                    updated_at=T0,
                )
                .returning(accounts.c.id)
            ).scalar_one()
            emails = [f"lead{i:02d}@example.com" for i in numbers]
            conn.execute(
                sa.update(leads)
                .where(leads.c.project_id == site.project.id, leads.c.email.in_(emails))
                .values(account_id=account_id)
            )


def _wait_for_history(site: Site) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with site.engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(account_membership_history))
            if rows.scalar():
                return
        time.sleep(0.1)
    raise AssertionError("the worker recorded no account history")


def test_create_an_account_segment_and_see_its_accounts(site: Site, browser: Any) -> None:
    _accounts(site)
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Name", exact=True).fill("Accounts with 3 new leads")
    page.get_by_label("Accounts (companies)").check()
    count = page.locator("#live-count")
    expect(count).to_have_text("Add a condition to see how many accounts match")

    page.get_by_role("button", name="+ Leads matching").click()
    row = page.get_by_role("group", name="Leads condition")
    row.get_by_role("button", name="+ Condition").click()
    pick(row, "Value for Status", "new")
    expect(count).to_have_text("2 accounts match your filters")  # Acme (0, 2, 4), Globex (6)
    row.get_by_label("At least how many leads").fill("3")
    expect(count).to_have_text("1 account matches your filters")
    expect(page.locator("#segment-active-label")).to_be_visible()  # maintained, as leads' are
    expect(page.locator("#preview-sample li")).to_have_text(["Acme · acme.com · 4 leads"])
    # The text syntax prints the account filter (the builder's groups as all(...)) and reads
    # one typed there.
    page.get_by_text("Text syntax").click()
    text = page.locator("#filter-text")
    expect(text).to_have_value('all(leads (all(status = "new")) at least 3)')
    text.fill('leads (status = "new") and name = "Globex"')
    page.get_by_role("button", name="Apply text").click()
    expect(count).to_have_text("1 account matches your filters")
    expect(page.locator("#preview-sample li")).to_have_text(["Globex · 1 leads"])
    text.fill('leads (status = "new") at least 3')
    page.get_by_role("button", name="Apply text").click()
    row = page.get_by_role("group", name="Leads condition")
    expect(row.get_by_label("At least how many leads")).to_have_value("3")
    screenshot(page, site, "account-segment-form", "desktop")

    page.get_by_role("button", name="Create Segment").click()
    expect(page.locator("#member-count")).to_have_text("1")
    expect(page.locator("#segment-state")).to_have_text("Active: always current")
    members = page.locator("#account-members tr")
    expect(members).to_have_count(1)
    expect(members.first).to_contain_text("Acme")
    expect(members.first).to_contain_text("acme.com")
    expect(members.first.locator("td").last).to_have_text("4")
    expect(page.locator("#conditions")).to_contain_text("At least 3 leads matching")
    _wait_for_history(site)  # the worker beside the server records Acme's entry
    page.reload()
    expect(page.locator("#history-title")).to_be_visible()
    entry = page.locator("#history li")
    expect(entry).to_have_count(1)
    expect(entry.first).to_contain_text("entered")
    expect(entry.first).to_contain_text("Acme (acme.com)")
    expect(entry.first).to_contain_text("created · v1")
    expect(page.locator("#analytics-accounts")).to_have_text("1")
    expect(page.locator("#analytics-account-leads")).to_have_text("4")
    screenshot(page, site, "account-segment", "desktop")

    # Deactivated, its members are frozen; Refresh recomputes them once (here: no change).
    page.get_by_role("button", name="Deactivate").click()
    expect(page.locator("#segment-state")).to_have_text("Inactive (members frozen)")
    page.get_by_role("button", name="Refresh", exact=True).click()
    expect(page.locator(".toast").last).to_contain_text("0 entered, 0 left, 1 members")
    expect(page.locator("#account-members tr")).to_have_count(1)

    page.get_by_role("link", name="Back to Segments").click()
    row = page.get_by_role("row").filter(has_text="Accounts with 3 new leads")
    expect(row).to_contain_text("At least 3 leads matching (Status is new)")
    expect(row.locator("td").nth(2)).to_have_text("Accounts")
    assert not page.errors
