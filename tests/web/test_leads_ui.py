"""Leads, import, lists and settings in a real browser."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, log_in, open_page, pick, seed_leads


def test_import_a_csv_with_mapping_and_progress(site: Site, browser: Any, tmp_path: Path) -> None:
    rows = ["E-mail,Given name,Employer,Shoe size"]
    rows += [f"imported{i}@example.com,Name{i},Umbrella,{40 + i % 5}" for i in range(300)]
    rows.insert(10, "not an email,Broken,Nowhere,41")  # line 11 of the file
    path = tmp_path / "leads.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/import")
    page.get_by_label("CSV file").set_input_files(path)
    expect(page.get_by_label("E-mail")).to_have_value("email")
    expect(page.get_by_label("Shoe size")).to_have_value("")  # nothing fits: ignored
    page.get_by_label("Given name").select_option("first_name")
    page.get_by_label("Employer").select_option("company")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-text")).to_have_text(
        "Imported: 300 created, 0 updated, 0 skipped, 1 failed."
    )
    expect(page.locator("#import-progress")).to_have_attribute("value", "100")
    expect(page.locator("#import-errors li")).to_have_text([re.compile(r"^Line 11: .*email")])

    # The leads are there, searchable, and filterable with the builder.
    page.goto(f"{site.url}/p/default/leads")
    page.get_by_label("Search leads").fill("Umbrella")
    expect(page.locator("#lead-table .pager")).to_contain_text("300 in all")
    page.get_by_label("Search leads").fill("")
    page.get_by_role("button", name="Filter", exact=True).click()
    page.get_by_role("button", name="+ Condition").click()
    row = page.get_by_role("group", name="Condition", exact=True).first
    pick(row, "Field", "Company")
    pick(row, "Value for Company", "umbrella")
    expect(page.locator("#live-count")).to_have_text("300 leads match your filters")
    page.get_by_role("button", name="Apply filter").click()
    expect(page.locator("#lead-table .pager")).to_contain_text("Page 1 of 6 · 300 in all")

    # The applied filter becomes a segment.
    page.get_by_role("button", name="Save filter as segment").click()
    page.get_by_label("Segment name").fill("Umbrella staff")
    page.get_by_role("dialog").get_by_role("button", name="Create Segment").click()
    page.wait_for_url(re.compile(r".*/segments/\d+$"))
    expect(page.locator(".toast")).to_have_text("Segment created successfully with 300 members")
    assert page.errors == []


def test_an_import_without_email_shows_the_warning(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("Given name,Employer\nAda,Engines\n", encoding="utf-8")
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/import")
    page.get_by_label("CSV file").set_input_files(path)
    page.get_by_label("Given name").select_option("first_name")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-text")).to_have_text(
        "Imported: 1 created, 0 updated, 0 skipped, 0 failed."
    )
    expect(page.locator("#import-text")).to_have_class("warn")
    expect(page.locator("#import-errors li.warn")).to_have_text(
        [re.compile(r"^Warning: no column maps to email.*duplicates them")]
    )
    assert page.errors == []


def test_a_list_by_hand_add_remove_and_export(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/lists")
    page.get_by_label("New list").fill("Hand picked")
    page.get_by_role("button", name="Create list").click()
    page.wait_for_url(re.compile(r".*/lists/\d+$"))
    expect(page.get_by_role("button", name="Export CSV")).to_be_disabled()  # empty

    for number in ("01", "02"):
        page.get_by_label("Find leads to add").fill(f"lead{number}@example.com")
        found = page.locator("#add-results li", has_text=f"lead{number}@example.com")
        found.get_by_role("button", name="Add").click()
        expect(page.locator(".toast").last).to_have_text(
            f"First{number} Last{number} added to the list."
        )
    expect(page.locator("#list-members tbody tr")).to_have_count(2)
    page.get_by_role("button", name="Remove First01 Last01").click()
    expect(page.locator("#list-members tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Export CSV").click()
    with page.expect_download() as download:
        page.get_by_role("dialog").get_by_role("button", name="Download").click()
    lines = download.value.path().read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "lead02@example.com" in lines[1]
    expect(page.locator(".toast").last).to_have_text("Exported 1 members to CSV.")
    assert page.errors == []


def test_settings_tokens_and_custom_fields(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/settings")
    page.get_by_label("Key").fill("plan")
    page.get_by_label("Type").select_option("select")
    page.get_by_label("Options (select only, comma-separated)").fill("free, pro")
    page.get_by_role("button", name="Add field").click()
    expect(page.locator("#custom-fields")).to_contain_text("custom.plan · select (free, pro)")

    page.get_by_label("Name", exact=True).last.fill("Zapier")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-shown code")).to_have_text(re.compile(r"^sgm_[0-9a-f]{8}_"))
    expect(page.locator("#tokens")).to_contain_text("Zapier")
    page.locator("#tokens tr", has_text="Zapier").get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(page.locator("#tokens tr", has_text="Zapier")).to_contain_text("revoked")

    # A custom select field gets a multi-select in the builder.
    page.goto(f"{site.url}/p/default/segments/new")
    page.get_by_role("button", name="+ Condition").click()
    row = page.get_by_role("group", name="Condition", exact=True).first
    pick(row, "Field", "Plan")
    expect(row.get_by_role("combobox", name="Value for plan")).to_be_visible()
    row.get_by_label("Operator").select_option("in")
    pick(row, "Value for Plan", "free", "pro")
    expect(page.locator("#live-count")).to_have_text("0 leads match your filters")
    assert page.errors == []


def test_a_rule_is_added_before_the_event_type_suggestions_arrive(site: Site, browser: Any) -> None:
    """The suggestions are a nicety: while they are on their way (held here for good) the
    rules show and the form adds a rule, rather than submitting natively and losing it."""
    page = open_page(browser, "desktop")
    log_in(page, site)
    held: list[Any] = []
    page.route("**/filters/vocabulary", lambda route: held.append(route))  # never answered
    page.get_by_role("link", name="Scoring").click()
    expect(page.locator("#rules tbody")).to_contain_text("No rules yet")
    page.get_by_label("Event type").fill("trial_signup")
    page.get_by_label("Points per event").fill("30")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("#rules tbody")).to_contain_text("trial_signup")
    assert held  # the suggestions were asked for, and are still on their way
    page.unroute_all(behavior="ignoreErrors")


def test_scoring_rules_levels_and_a_leads_score(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.get_by_role("link", name="Scoring").click()
    page.get_by_label("Event type").fill("trial_signup")
    page.get_by_label("Points per event").fill("30")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("#rules tbody")).to_contain_text("trial_signup")
    expect(page.locator(".toast").last).to_contain_text("Rule added")

    # A bad where names its problem; a good one is stored as the filter language.
    page.get_by_label("Event type").fill("trial_signup")
    page.get_by_label("Points per event").fill("5")
    page.get_by_label("Only events where").fill("plan = ")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("#rule-error")).to_contain_text("line 1")

    # The worker's sweep scores every lead: 30 leads signed up for a trial are Warm now.
    warm = page.locator("#levels tbody tr").nth(1).locator("td").nth(2)  # Cold, Warm, ...
    expect(page.get_by_label("Level 2 name", exact=True)).to_have_value("Warm")
    for _ in range(40):
        if warm.inner_text() == "30":
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(warm).to_have_text("30")

    # Moving the Warm band to 40 would leave them Cold: the preview says so before saving.
    page.get_by_label("Level 2 starts at", exact=True).fill("40")
    expect(page.locator("#levels tbody tr").nth(0).locator("td").nth(2)).to_have_text("60")
    expect(page.locator("#levels tbody tr").nth(1).locator("td").nth(2)).to_have_text("0")

    page.goto(f"{site.url}/p/default/leads/1")  # lead00 signed up: 30 points
    expect(page.locator("#score-now")).to_have_text("30")
    expect(page.locator("#lead-score")).to_contain_text("Warm")
    assert page.errors == []


def test_the_scoring_page_counts_the_levels_leads_hold(site: Site, browser: Any) -> None:
    """Its counts are what "Engagement level is …" matches: every seeded lead holds Cold from
    the start, and a lead written with a level of its own is said to hold none of the bands."""
    page = open_page(browser, "desktop")
    log_in(page, site)
    created = page.evaluate(
        "() => api('/leads', { method: 'POST', body: "
        "{ email: 'odd@example.com', engagement_level: 'Imported' } })"
    )
    assert created["engagement_level"] == "Imported"
    page.goto(f"{site.url}/p/default/scoring")
    cold = page.locator("#levels tbody tr").nth(0).locator("td").nth(2)
    expect(cold).to_have_text(str(len(seed_leads())))
    expect(page.locator("#levels .unleveled")).to_have_text(
        "1 lead has none of these levels yet (not scored yet, or imported with another): "
        "the next rescore gives them one."
    )
    matched = page.evaluate(
        "() => api('/segments/preview', { method: 'POST', body: { filter: "
        "{ field: 'engagement_level', op: 'eq', value: 'Cold' } } })"
    )
    assert matched["count"] == len(seed_leads())
    assert page.errors == []


def test_profile_fit_rules_on_the_scoring_page(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/scoring")
    page.get_by_label("Name", exact=True).fill("Leaders")
    page.get_by_label("Condition (text syntax)").fill('job_title = "CEO"')
    page.get_by_label("Points", exact=True).fill("60")
    page.get_by_role("button", name="Add fit rule").click()
    expect(page.locator("#fit-rules tbody")).to_contain_text('job_title = "CEO"')
    expect(page.get_by_label("Fit level 3 name")).to_have_value("Strong Fit")
    strong = page.locator("#fit-levels tbody tr").nth(2).locator("td").nth(2)
    for _ in range(40):  # the worker's sweep fits every lead
        if strong.inner_text() == "20":
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(strong).to_have_text("20")  # every third of 60 leads is a CEO
    expect(page.locator("#rescore-status")).to_be_hidden()

    # Moving Strong Fit to 70 would leave nobody in it: the preview says so before saving.
    page.get_by_label("Fit level 3 starts at").fill("70")
    expect(strong).to_have_text("0")
    page.get_by_role("button", name="Save fit levels").click()
    expect(page.locator(".toast").last).to_contain_text("Fit levels saved")
    assert page.errors == []
