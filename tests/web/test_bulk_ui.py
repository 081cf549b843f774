"""Bulk actions in a real browser: rows ticked or "all N matching" on Leads, a segment's and a
list's members; the action done by the server's worker, its progress shown until it ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from segmint.store.tables import leads
from tests.web.conftest import Site, log_in, open_page


def _post(page: Any, path: str, body: dict[str, Any]) -> Any:
    """Creates through the page's own API client (the session cookie and its CSRF token)."""
    return page.evaluate("([path, body]) => api(path, { method: 'POST', body })", [path, body])


def _choose(page: Any, action: str) -> None:
    page.get_by_label("Action on the selected leads").select_option(label=action)
    page.get_by_role("button", name="Apply", exact=True).click()


def _statuses(site: Site, emails: list[str]) -> list[str]:
    with site.engine.connect() as conn:
        rows = conn.execute(
            sa.select(leads.c.status).where(leads.c.email.in_(emails)).order_by(leads.c.email)
        )
        return list(rows.scalars())


def test_ticked_rows_get_a_status(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/leads")
    page.get_by_label("Search leads").fill("Initech")
    expect(page.locator("#lead-table .pager")).to_contain_text("15 in all")
    expect(page.locator("#bulk-bar")).to_be_hidden()
    page.get_by_label("Select First00 Last00").check()
    page.get_by_label("Select First04 Last04").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    _choose(page, "Set status…")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text("Set status: 2 leads")
    dialog.get_by_label("Set status").select_option("qualified")
    dialog.get_by_role("button", name="Apply").click()
    expect(page.locator(".toast").last).to_have_text("Set status: done, 2 of 2 leads changed.")
    expect(page.locator("#bulk-bar")).to_be_hidden()
    emails = ["lead00@example.com", "lead04@example.com", "lead08@example.com"]
    assert _statuses(site, emails) == ["qualified", "qualified", "new"]
    row = page.get_by_role("row").filter(has_text="lead04@example.com")
    expect(row).to_contain_text("qualified")
    assert page.errors == []


def test_all_matching_across_pages_are_tagged(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/leads")
    expect(page.locator("#lead-table .pager")).to_contain_text("60 in all")
    page.get_by_label("Select every row on this page").check()
    expect(page.locator("#bulk-count")).to_have_text("50 selected")
    page.get_by_role("button", name="Select all 60 matching").click()
    expect(page.locator("#bulk-count")).to_have_text("All 60 matching selected")
    _choose(page, "Add tags…")
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Add tags").fill("Spring fair, vip")
    dialog.get_by_role("button", name="Apply").click()
    expect(page.locator(".toast").last).to_have_text("Add tags: done, 60 of 60 leads changed.")
    with site.engine.connect() as conn:
        tags = list(conn.execute(sa.select(leads.c.tags)).scalars())
    assert len(tags) == 60 and all("Spring fair" in t and "vip" in t for t in tags)
    # Another search lets the selection go.
    page.get_by_label("Select First59 Last59").check()
    page.get_by_label("Search leads").fill("Initech")
    expect(page.locator("#bulk-bar")).to_be_hidden()
    assert page.errors == []


def test_deleting_asks_for_the_count_typed(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/leads")
    page.get_by_label("Search leads").fill("lead01@")
    expect(page.locator("#lead-table .pager")).to_contain_text("1 in all")
    page.get_by_label("Select First01 Last01").check()
    _choose(page, "Delete…")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This deletes 1 lead for good")
    dialog.get_by_label("Type 1 to confirm").fill("2")
    dialog.get_by_role("button", name="Delete 1 lead").click()
    expect(dialog.get_by_role("alert")).to_have_text("Type the number of leads selected, exactly.")
    dialog.get_by_label("Type 1 to confirm").fill("1")
    dialog.get_by_role("button", name="Delete 1 lead").click()
    expect(page.locator(".toast").last).to_have_text("Delete: done, 1 of 1 lead changed.")
    expect(page.locator("#lead-table")).to_contain_text("Nothing matches the search “lead01@”.")
    assert _statuses(site, ["lead01@example.com"]) == []
    assert page.errors == []


def test_a_segments_members_go_to_a_list_and_export(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/leads")
    invitees = _post(page, "/lists", {"name": "Fair invitees"})
    ceo = {"field": "job_title", "op": "eq", "value": "CEO"}
    segment = _post(page, "/segments", {"name": "CEOs", "filter": ceo})
    page.goto(f"{site.url}/p/default/segments/{segment['id']}")
    expect(page.locator("#members .pager")).to_contain_text("20 in all")
    page.get_by_label("Search members").fill("Initech")
    expect(page.locator("#members .pager")).to_contain_text("5 in all")
    page.get_by_label("Select every row on this page").check()
    _choose(page, "Add to list…")
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Add to list").select_option(label="Fair invitees")
    dialog.get_by_role("button", name="Apply").click()
    expect(page.locator(".toast").last).to_have_text("Add to list: done, 5 of 5 leads changed.")

    page.get_by_label("Select First00 Last00").check()
    page.get_by_label("Select First12 Last12").check()
    _choose(page, "Export CSV…")
    with page.expect_download() as download:
        page.get_by_role("dialog").get_by_role("button", name="Download").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert [line.split(",")[1] for line in text.splitlines()[1:]] == [
        "lead00@example.com",
        "lead12@example.com",
    ]
    page.goto(f"{site.url}/p/default/lists/{invitees['id']}")
    expect(page.locator("#list-members .pager")).to_contain_text("5 in all")
    assert page.errors == []
