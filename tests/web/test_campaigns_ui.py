"""Campaigns in a real browser, sending to a real SMTP server: mail settings, a campaign built
by clicking (audience and rendered preview live), run now with the run's counts updating live,
its recipients paged; and a campaign whose segment went inactive, which cannot run."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from segmint.ingest import ingest_events
from tests.smtp import SmtpServer
from tests.web.conftest import Site, log_in, open_page, pick, screenshot, seed_leads

NEW = [lead for lead in seed_leads() if lead["status"] == "new"]  # 30 leads
UNSUBSCRIBED = NEW[0]["email"]
SENT_TIMEOUT = 20_000  # ms: the sender picks a run up within a second and paces nothing here


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def call(page: Any, site: Site, method: str, path: str, body: Any = None) -> Any:
    """The REST API with the page's session, as its scripts call it (CSRF header included)."""
    response = page.request.fetch(
        f"{site.url}/api/v1/projects/default/{path}",
        method=method,
        data=body,
        headers={"X-CSRF-Token": page.evaluate("BOOT.csrf")},
    )
    assert response.ok, response.text()
    return None if response.status == 204 else response.json()


def test_build_run_and_watch_a_campaign(site: Site, browser: Any, smtp: SmtpServer) -> None:
    ingest_events(
        site.engine, site.project, enumerate([{"email": UNSUBSCRIBED, "type": "unsubscribed"}])
    )
    page = open_page(browser, "desktop")
    log_in(page, site)
    call(
        page,
        site,
        "POST",
        "segments",
        {"name": "New leads", "filter": {"field": "status", "op": "eq", "value": "new"}},
    )

    # Mail settings, in the UI, pointing at the test's SMTP server.
    page.goto(f"{site.url}/p/default/settings")
    mail = page.locator("#mail-form")
    expect(mail.get_by_label("Public URL")).to_have_value(site.url)  # this page's address
    mail.get_by_label("SMTP host").fill("127.0.0.1")
    mail.get_by_label("Port").fill(str(smtp.port))
    mail.get_by_label("Security").select_option("none")
    mail.get_by_label("From email").fill("news@acme.test")
    mail.get_by_label("From name").fill("Acme")
    mail.get_by_label("Rate per minute").fill("6000")
    mail.get_by_role("button", name="Save mail settings").click()
    expect(page.locator(".toast")).to_have_text("Mail settings saved.")
    expect(page.locator("#mail-password-state")).to_have_text("Not set.")

    # The editor: include a segment, narrow it with the builder and widen it again.
    page.goto(f"{site.url}/p/default/campaigns")
    expect(page.locator("#campaign-rows")).to_contain_text("No campaigns yet")
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name", exact=True).fill("Welcome new leads")
    count = page.locator("#audience-count")
    expect(count).to_have_text("Include a segment or a list to see the audience")
    page.get_by_role("group", name="Include segments").get_by_label("New leads").check()
    expect(count).to_have_text(f"{len(NEW) - 1} leads will get it")
    expect(page.locator("#audience-detail")).to_contain_text("1 unsubscribed")
    expect(page.locator("#audience-sample li")).to_have_count(5)
    page.get_by_text("Narrow further with a filter").click()
    page.locator("#builder").get_by_role("button", name="+ Condition").click()
    condition = page.get_by_role("group", name="Condition", exact=True)
    pick(condition, "Field", "Job title")
    condition.get_by_label("Operator").select_option("contains")
    pick(condition, "Value for Job title", "ceo")
    ceos = [lead for lead in NEW[1:] if lead["job_title"] == "CEO"]
    expect(count).to_have_text(f"{len(ceos)} leads will get it")
    condition.get_by_role("button", name="Remove condition").click()
    expect(count).to_have_text(f"{len(NEW) - 1} leads will get it")

    # The message, previewed for a lead found by search; a template error shows at its field.
    page.get_by_label("Subject").fill("Hi {{ lead.first_name }}")
    body = page.get_by_label("Body")
    body.fill("Hello {% if %}")
    body_error = page.locator('[data-path="body"] > .field-error')
    expect(body_error).not_to_be_empty()
    body.fill("Hello {{ lead.first_name }},\n\nWelcome aboard.")
    expect(body_error).to_be_empty()
    page.get_by_label("Find a lead to preview for").fill("lead02")
    expect(page.locator("#render-subject")).to_have_text("Hi First02")
    rendered = page.frame_locator("#render-html").locator("body")
    expect(rendered).to_contain_text("Hello First02,")
    expect(rendered).to_contain_text("Unsubscribe")
    screenshot(page, site, "campaign-new", "desktop")
    page.get_by_role("button", name="Create campaign").click()

    # The campaign page: run now, and watch the run's counts move without reloading.
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    expect(page.locator(".toast")).to_have_text("Campaign created.")
    expect(page.locator("#audience-count")).to_have_text(f"{len(NEW) - 1} leads")
    page.get_by_role("button", name="Run now").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"It sends to the {len(NEW) - 1} leads of its audience now.")
    dialog.get_by_role("button", name="Send now").click()
    run = page.locator("#run-rows tr").first
    expect(run.locator(".run-state .pill")).to_have_text("done", timeout=SENT_TIMEOUT)
    expect(run.locator(".run-sent")).to_have_text(str(len(NEW) - 1))
    expect(page.locator("#audience-count")).to_have_text("0 leads")  # all sent: none left
    expect(page.locator("#campaign-head")).to_contain_text("Draft")
    # The poll stops once no run is pending or sending.
    polled: list[str] = []
    page.on(
        "request", lambda request: polled.append(request.url) if "/runs" in request.url else None
    )
    page.wait_for_timeout(1500)
    assert polled == []

    # Recipients, 25 a page, then the rest; filtered by state.
    run.get_by_role("button", name=re.compile(r"Recipients of run")).click()
    states = page.locator("#recipient-rows .pill")
    expect(states).to_have_count(25)
    page.get_by_role("button", name="Load more").click()
    expect(states).to_have_text(["sent"] * (len(NEW) - 1))
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    screenshot(page, site, "campaign", "desktop")
    page.get_by_label("State", exact=True).select_option("failed")
    expect(page.locator("#recipient-rows")).to_have_text("No recipient in this state.")

    # Exactly one message per recipient, rendered for each.
    assert sorted(smtp.inbox.addresses()) == sorted(lead["email"] for lead in NEW[1:])
    assert smtp.inbox.to("lead02@example.com")[0]["Subject"] == "Hi First02"

    page.get_by_role("link", name="Back to Campaigns").click()
    row = page.locator("#campaign-rows tr", has_text="Welcome new leads")
    expect(row).to_contain_text(f"{len(NEW) - 1} / {len(NEW)} sent")
    expect(row).to_contain_text("Manual")
    screenshot(page, site, "campaign-list", "desktop")
    assert page.errors == []


def test_a_campaign_whose_segment_is_inactive_cannot_run(site: Site, browser: Any) -> None:
    page = open_page(browser, "mobile")
    log_in(page, site)
    call(
        page,
        site,
        "PUT",
        "settings/mail",
        {"host": "127.0.0.1", "from_email": "news@acme.test", "public_url": site.url},
    )
    segment = call(
        page,
        site,
        "POST",
        "segments",
        {"name": "New", "filter": {"field": "status", "op": "eq", "value": "new"}},
    )
    campaign = call(
        page,
        site,
        "POST",
        "campaigns",
        {
            "name": "Weekday digest",
            "targeting": {"include_segments": [segment["id"]]},
            "subject": "News for {{ lead.first_name }}",
            "body": "Hello",
            "schedule": {"kind": "cron", "cron": "0 10 * * 1-5", "timezone": "Europe/Paris"},
            "state": "scheduled",
        },
    )
    page.goto(f"{site.url}/p/default/campaigns")
    row = page.locator("#campaign-rows tr", has_text="Weekday digest")
    expect(row).to_contain_text("Scheduled")
    expect(row).to_contain_text("Weekdays 10:00 Europe/Paris")

    call(page, site, "PATCH", f"segments/{segment['id']}", {"active": False})
    page.reload()
    problem = "segment 'New' is inactive: activate it or remove it"
    expect(row.locator(".pill")).to_have_text("Error")
    expect(row).to_contain_text(problem)
    screenshot(page, site, "campaign-list", "mobile")

    row.get_by_role("link", name="Weekday digest").click()
    expect(page.locator("#problem-list")).to_contain_text(problem)
    run_now = page.get_by_role("button", name="Run now")
    expect(run_now).to_be_disabled()
    expect(page.locator("#run-blocked")).to_have_text(
        "Run now is unavailable until the problems below are fixed."
    )
    expect(page.locator("#runs")).to_contain_text("No runs yet.")
    screenshot(page, site, "campaign", "mobile")

    # The editor shows the same problem beside the audience.
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("group", name="Include segments").get_by_label("New")).to_be_checked()
    expect(page.locator("#audience-problems")).to_contain_text(problem)
    expect(page.locator("#render-subject")).to_have_text(re.compile(r"^News for First\d\d$"))
    expect(page.frame_locator("#render-html").locator("body")).to_contain_text("Hello")
    expect(page.locator("#cron-hint")).to_have_text("Weekdays 10:00 (Europe/Paris)")
    screenshot(page, site, "campaign-edit", "mobile")

    # Once, at a wall-clock time of the schedule's zone (Paris is UTC+1 in January).
    page.get_by_label("Once").check()
    page.get_by_label("Send at").fill("2030-01-15T09:30")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    expect(page.locator("#campaign-schedule")).to_contain_text("Once at")
    expect(page.locator("#campaign-schedule")).to_contain_text("Europe/Paris")
    saved = call(page, site, "GET", f"campaigns/{campaign['id']}")
    assert saved["schedule"]["send_at"].startswith("2030-01-15T08:30")
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_label("Send at")).to_have_value("2030-01-15T09:30")

    # Active again: it can run; paused, it cannot until resumed.
    call(page, site, "PATCH", f"segments/{segment['id']}", {"active": True})
    page.goto(f"{site.url}/p/default/campaigns/{campaign['id']}")
    expect(run_now).to_be_enabled()
    page.get_by_role("button", name="Pause").click()
    expect(run_now).to_be_disabled()
    expect(page.locator("#run-blocked")).to_contain_text("paused")
    page.get_by_role("button", name="Resume").click()
    expect(run_now).to_be_enabled()
    expect(page.locator("#campaign-head .pill")).to_have_text("Scheduled")

    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.wait_for_url("**/p/default/campaigns")
    expect(page.locator("#campaign-rows")).to_contain_text("No campaigns yet")
    assert page.errors == []


def test_a_triggered_campaign_sends_on_entry_and_shows_its_runs(
    site: Site, browser: Any, smtp: SmtpServer
) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    settings = {"host": "127.0.0.1", "port": smtp.port, "security": "none"}
    call(page, site, "PUT", "settings/mail", {**settings, "from_email": "news@acme.test"})
    segment = call(
        page,
        site,
        "POST",
        "segments",
        {"name": "Demo asked", "filter": {"field": "tags", "op": "has_any", "value": ["demo"]}},
    )
    page.goto(f"{site.url}/p/default/campaigns/new")
    page.get_by_label("Name", exact=True).fill("Demo follow-up")
    page.get_by_label("Send when").select_option("enter")
    page.get_by_label("Segment (active segments only)").select_option(str(segment["id"]))
    page.get_by_label("At most this many sends per lead (empty: no cap)").fill("0")
    page.get_by_label("Subject").fill("Your demo")
    page.get_by_label("Body").fill("Hello {{ lead.first_name }}")
    page.get_by_label("State").select_option("scheduled")
    page.get_by_role("button", name="Create campaign").click()
    cap_error = page.locator('[data-path="trigger.cap.max"] > .field-error')
    expect(cap_error).to_contain_text("expected a whole number from 1 to 1000")
    page.get_by_label("At most this many sends per lead (empty: no cap)").fill("1")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    expect(page.locator("#campaign-trigger")).to_contain_text(
        "When a lead enters segment “Demo asked”, at most 1 per 7 days"
    )
    lead = {"email": "dee@example.com", "first_name": "Dee", "tags": ["demo"]}
    call(page, site, "POST", "leads/bulk", {"leads": [lead]})
    deadline = time.monotonic() + SENT_TIMEOUT / 1000
    while smtp.inbox.addresses() != ["dee@example.com"]:
        assert time.monotonic() < deadline, smtp.inbox.addresses()
        time.sleep(0.1)
    page.reload()
    run = page.locator("#run-rows tr").first
    expect(run).to_contain_text("Triggered")
    expect(run.locator(".run-state .pill")).to_have_text("done", timeout=SENT_TIMEOUT)
    expect(run.locator(".run-sent")).to_have_text("1")
    page.get_by_role("link", name="Back to Campaigns").click()
    row = page.locator("#campaign-rows tr", has_text="Demo follow-up")
    expect(row).to_contain_text("On entry into segment “Demo asked”")
    assert page.errors == []
