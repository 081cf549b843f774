"""Exporting chosen columns in a real browser: the Export button of a segment and of a list
asks which columns (the reference's seven ticked), refuses none, works from the keyboard, and
downloads the CSV of exactly the columns ticked."""

from __future__ import annotations

import csv
import io
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, log_in, open_page, screenshot, seed_leads

SEVEN = ["Name", "Email", "Phone", "Company", "Job Title", "Source", "Status"]
CONTACTED = [lead for lead in seed_leads() if lead["status"] == "contacted"]


def _create(page: Any) -> tuple[int, int]:
    """A segment of the contacted leads and a list of them, through the page's own API client
    (its session and CSRF token)."""
    return tuple(  # type: ignore[return-value]
        page.evaluate(
            """async () => {
              const filter = {field: "status", op: "eq", value: "contacted"};
              const body = {name: "Contacted", filter};
              const segment = await api("/segments", {method: "POST", body});
              const list = await api(`/segments/${segment.id}/convert-to-list`, {method: "POST"});
              return [segment.id, list.id];
            }"""
        )
    )


def _rows(download: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(download.path().read_text(encoding="utf-8"))))


def test_export_asks_which_columns(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    segment_id, list_id = _create(page)
    page.goto(f"{site.url}/p/default/segments/{segment_id}")

    page.get_by_role("button", name="Export CSV").click()
    dialog = page.get_by_role("dialog", name="Export CSV")
    columns = dialog.get_by_role("group", name="Columns")
    for header in SEVEN:
        expect(columns.get_by_role("checkbox", name=header, exact=True)).to_be_checked()
    for header in ("Created", "Tags", "Owner", "Engagement Score", "Profile Level"):
        expect(columns.get_by_role("checkbox", name=header, exact=True)).not_to_be_checked()
    expect(columns.get_by_role("checkbox", name="Name", exact=True)).to_be_focused()
    screenshot(page, site, "export-dialog", "desktop")

    # None ticked: the dialog says so and stays.
    for header in SEVEN:
        columns.get_by_role("checkbox", name=header, exact=True).uncheck()
    dialog.get_by_role("button", name="Download").click()
    expect(dialog.get_by_role("alert")).to_have_text("Choose at least one column.")
    expect(dialog).to_be_visible()

    # From the keyboard: Space ticks, Tab moves on, Enter downloads.
    columns.get_by_role("checkbox", name="Email", exact=True).press("Space")
    expect(dialog.get_by_role("alert")).to_have_count(0)  # a change clears the complaint
    columns.get_by_role("checkbox", name="Tags", exact=True).focus()
    page.keyboard.press("Space")
    dialog.get_by_role("button", name="Download").focus()
    with page.expect_download() as download_info:
        page.keyboard.press("Enter")
    rows = _rows(download_info.value)
    assert rows[0] == ["Email", "Tags"]
    assert sorted(rows[1:]) == sorted(
        [lead["email"], "; ".join(lead["tags"])] for lead in CONTACTED
    )
    expect(dialog).to_have_count(0)
    expect(page.locator(".toast").last).to_have_text(f"Exported {len(CONTACTED)} members to CSV.")

    # Escape cancels: nothing is downloaded, nothing is said.
    page.get_by_role("button", name="Export CSV").click()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    # A list's export: some of the seven unticked.
    page.goto(f"{site.url}/p/default/lists/{list_id}")
    page.get_by_role("button", name="Export CSV").click()
    columns = page.get_by_role("dialog").get_by_role("group", name="Columns")
    for header in ("Phone", "Company", "Job Title", "Source"):
        columns.get_by_role("checkbox", name=header, exact=True).uncheck()
    with page.expect_download() as download_info:
        page.get_by_role("dialog").get_by_role("button", name="Download").click()
    rows = _rows(download_info.value)
    assert download_info.value.suggested_filename == "Contacted_export.csv"
    assert rows[0] == ["Name", "Email", "Status"]
    assert len(rows) == len(CONTACTED) + 1 and {row[2] for row in rows[1:]} == {"contacted"}
    assert page.errors == []


def test_export_dialog_on_a_phone(site: Site, browser: Any) -> None:
    page = open_page(browser, "mobile")
    log_in(page, site)
    segment_id, _ = _create(page)
    page.goto(f"{site.url}/p/default/segments/{segment_id}")
    page.get_by_role("button", name="Export", exact=True).click()
    dialog = page.get_by_role("dialog", name="Export CSV")
    expect(dialog.get_by_role("button", name="Download")).to_be_in_viewport()
    screenshot(page, site, "export-dialog", "mobile")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert page.errors == []
