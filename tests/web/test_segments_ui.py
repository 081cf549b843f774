"""The segment workflow in a real browser: build a nested segment by clicking, watch the live
count, save, open it, sort and page its members, export, convert to a list, delete."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, log_in, open_page, pick, screenshot, seed_leads

LEADS = seed_leads()


def _expected(rule: Any) -> list[dict[str, Any]]:
    return [lead for lead in LEADS if rule(lead)]


def _condition_rows(page: Any) -> Any:
    return page.get_by_role("group", name="Condition", exact=True)


def test_build_save_page_export_convert_delete(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    screenshot(page, site, "segments", "desktop")

    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Name", exact=True).fill("New CEOs or Initech")
    count = page.locator("#live-count")
    expect(count).to_have_text("Add a condition to see how many leads match")

    # status is new ...
    page.get_by_role("button", name="+ Condition").click()
    first = _condition_rows(page).nth(0)
    pick(first, "Value for Status", "new")
    new_leads = _expected(lambda lead: lead["status"] == "new")
    expect(count).to_have_text(f"{len(new_leads)} leads match your filters")
    expect(page.locator("#preview-sample li")).to_have_count(5)

    # ... AND (job title contains CEO OR company is Initech), in a nested OR group.
    page.get_by_role("button", name="+ Group").click()
    inner = page.get_by_role("group", name="Any of")
    inner.get_by_role("button", name="+ Condition").click()
    inner.get_by_role("button", name="+ Condition").click()
    rows = inner.get_by_role("group", name="Condition", exact=True)
    pick(rows.nth(0), "Field", "Job title")
    rows.nth(0).get_by_label("Operator").select_option("contains")
    pick(rows.nth(0), "Value for Job title", "ceo")
    pick(rows.nth(1), "Field", "Company")
    pick(rows.nth(1), "Value for Company", "Initech")
    members = _expected(
        lambda lead: (
            lead["status"] == "new" and (lead["job_title"] == "CEO" or lead["company"] == "Initech")
        )
    )
    expect(count).to_have_text(f"{len(members)} leads match your filters")
    page.get_by_text("Text syntax").click()
    expect(page.locator("#filter-text")).to_have_value(re.compile(r"status = .new."))
    screenshot(page, site, "segment-builder", "desktop")

    page.get_by_role("button", name="Create Segment").click()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))
    expect(page.locator(".toast")).to_have_text(
        f"Segment created successfully with {len(members)} members"
    )
    expect(page.locator("#member-count")).to_have_text(str(len(members)))
    expect(page.locator("#members tbody tr")).to_have_count(len(members))
    screenshot(page, site, "segment-detail", "desktop")

    # The worker records each member's entry within moments; the page shows it on reload.
    for _ in range(20):
        if page.locator("#history .pill").count():
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(page.locator("#history .pill").first).to_have_text("entered")
    # Each change names its lead, linked to the lead's page (not "Lead 12").
    named = page.locator("#history li a").first
    expect(named).to_have_text(re.compile(r"^First\d\d Last\d\d$"))
    expect(page.locator("#history")).not_to_contain_text("Lead ")
    expect(page.locator("#analytics")).to_contain_text(str(len(members)))
    # The members' average score at a date and 7 days later, from the score history.
    page.get_by_label("Date", exact=True).fill(
        (datetime.now(UTC) - timedelta(days=10)).date().isoformat()
    )
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#before-after-result")).to_contain_text(
        f"{len(members)} current members: average score"
    )
    page.get_by_label("Days after").fill("30")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#before-after-result")).to_contain_text("still to come")

    # Sort by email, descending on a second click.
    emails = sorted(lead["email"] for lead in members)
    page.get_by_role("button", name="Email", exact=True).click()
    expect(page.locator("#members tbody tr").first).to_contain_text(emails[0])
    page.get_by_role("button", name="Email", exact=True).click()
    expect(page.locator("#members tbody tr").first).to_contain_text(emails[-1])

    # Why does a member match?
    page.locator("#members tbody tr").first.get_by_role("button", name="Why?").click()
    # In words, with the lead's value and a mark: no operator keys, no raw ISO stamps.
    expect(page.locator("#why")).to_contain_text("Status is new: new ✓")
    expect(page.locator("#why")).to_contain_text("Any of these ✓")
    expect(page.locator("#why")).not_to_contain_text(" eq ")
    screenshot(page, site, "segment-why", "desktop")

    # Export: the file holds every member, with the reference's columns (ticked by default).
    page.get_by_role("button", name="Export CSV").click()
    with page.expect_download() as download_info:
        page.get_by_role("dialog").get_by_role("button", name="Download").click()
    exported = download_info.value
    assert exported.suggested_filename == "New_CEOs_or_Initech_export.csv"
    rows_read = list(csv.reader(io.StringIO(exported.path().read_text(encoding="utf-8"))))
    assert rows_read[0] == ["Name", "Email", "Phone", "Company", "Job Title", "Source", "Status"]
    assert sorted(r[1] for r in rows_read[1:]) == emails
    expect(page.locator(".toast").last).to_have_text(f"Exported {len(members)} members to CSV.")

    # Convert to a static list.
    page.get_by_role("button", name="Convert to list").click()
    page.wait_for_url(re.compile(r".*/lists/\d+$"))
    expect(page.locator("#list-members tbody tr")).to_have_count(len(members))
    screenshot(page, site, "list-detail", "desktop")
    page.go_back()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))

    # Delete, through the reference's confirmation texts.
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This action cannot be undone.")
    expect(dialog).to_contain_text("Filter criteria will be permanently deleted.")
    expect(dialog).to_contain_text(
        "Leads themselves will NOT be deleted (only the segment definition)."
    )
    dialog.get_by_role("button", name="Delete").click()
    page.wait_for_url("**/p/default/segments")
    expect(page.locator("#segment-rows")).not_to_contain_text("New CEOs or Initech")
    assert page.errors == []


def test_paging_members_and_editing_shows_old_and_new_counts(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Name", exact=True).fill("Everyone by source")
    page.get_by_role("button", name="+ Condition").click()
    row = _condition_rows(page).nth(0)
    pick(row, "Field", "Source")
    row.get_by_label("Operator").select_option("in")
    pick(row, "Value for Source", "referral", "webinar")
    expect(page.locator("#live-count")).to_have_text("60 leads match your filters")
    page.get_by_role("button", name="Create Segment").click()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))

    # 60 members: 50 on the first page, 10 on the second, newest first by default.
    expect(page.locator("#members tbody tr")).to_have_count(50)
    expect(page.locator("#members .pager")).to_contain_text("Page 1 of 2")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#members tbody tr")).to_have_count(10)
    page.get_by_role("button", name="Previous").click()
    page.get_by_label("Search members").fill("lead07")
    expect(page.locator("#members tbody tr")).to_have_count(1)
    # A search that finds nobody says so, not that the segment is empty.
    page.get_by_label("Search members").fill("zzz-nobody")
    expect(page.locator("#members tbody")).to_have_text(
        "No member matches the search “zzz-nobody”."
    )

    # Edit: narrowing to webinar shows "60 → 12 members" before saving.
    page.get_by_role("link", name="Edit").click()
    page.wait_for_url(re.compile(r".*/edit$"))
    webinar = len(_expected(lambda lead: lead["source"] == "webinar"))
    row = _condition_rows(page).nth(0)
    row.locator(".ts-control .item", has_text="referral").locator(".remove").click()
    expect(page.locator("#live-count")).to_have_text(f"60 → {webinar} members")
    page.get_by_role("button", name="Save Changes").click()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))
    expect(page.locator("#member-count")).to_have_text(str(webinar))
    assert page.errors == []


def test_invalid_values_are_shown_at_their_row(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/segments/new")
    page.get_by_role("button", name="+ Condition").click()
    row = _condition_rows(page).nth(0)
    pick(row, "Field", "Engagement score")
    row.get_by_label("Operator").select_option("gt")
    expect(row.locator(".field-error")).to_contain_text("value")
    row.get_by_label("Value for Engagement score").fill("10")
    expect(row.locator(".field-error")).to_have_count(0)

    # The text syntax is editable too; its errors name the position.
    page.get_by_text("Text syntax").click()
    page.locator("#filter-text").fill('status = "new" and (')
    page.get_by_role("button", name="Apply text").click()
    expect(page.locator("#text-error")).to_contain_text("line 1")
    page.locator("#filter-text").fill('status = "contacted" or job_title contains "ceo"')
    page.get_by_role("button", name="Apply text").click()
    expected = _expected(lambda lead: lead["status"] == "contacted" or lead["job_title"] == "CEO")
    expect(page.locator("#live-count")).to_have_text(f"{len(expected)} leads match your filters")
    expect(_condition_rows(page)).to_have_count(2)
    assert page.errors == []


def test_every_main_page_at_both_widths(site: Site, browser: Any) -> None:
    for width in ("desktop", "mobile"):
        page = open_page(browser, width)
        log_in(page, site)
        if width == "mobile":  # the navigation folds behind a menu button
            expect(page.get_by_role("link", name="Leads")).to_be_hidden()
            page.get_by_role("button", name="Menu").click()
            expect(page.get_by_role("link", name="Leads")).to_be_visible()
        screenshot(page, site, "segments", width)
        page.goto(f"{site.url}/p/default/segments/new")
        page.get_by_role("button", name="+ Condition").click()
        screenshot(page, site, "segment-new", width)
        page.get_by_label("Name", exact=True).fill("Trial sign-ups")
        page.get_by_role("button", name="+ Event", exact=True).click()
        event = page.get_by_role("group", name="Event condition")
        pick(event, "Event type", "trial_signup")
        page.get_by_role("button", name="Remove condition", exact=True).click()
        expect(page.locator("#live-count")).to_have_text("30 leads match your filters")
        page.get_by_role("button", name="Create Segment").click()
        page.wait_for_url(re.compile(r".*/segments/\d+$"))
        export = page.locator("#export-csv")
        if width == "mobile":  # the reference: "Export" on mobile, "Export CSV" on desktop
            expect(export).to_have_accessible_name("Export")
        else:
            expect(export).to_have_accessible_name("Export CSV")
        screenshot(page, site, "segment-detail", width)
        for name, path in (
            ("leads", "/leads"),
            ("lead", "/leads/1"),
            ("lists", "/lists"),
            ("import", "/import"),
            ("settings", "/settings"),
            ("scoring", "/scoring"),
            ("campaigns", "/campaigns"),
        ):
            page.goto(f"{site.url}/p/default{path}")
            screenshot(page, site, name, width)
        assert page.errors == []
        page.context.close()
