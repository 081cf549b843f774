"""The builder's rows read as sentences, in a real browser: what a screen reader or a copy reads
of an event condition is its words with their spaces."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, log_in, open_page


def test_an_event_condition_reads_as_a_sentence(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    page.goto(f"{site.url}/p/default/segments/new")
    page.get_by_role("button", name="+ Event", exact=True).click()
    row = page.get_by_role("group", name="Event condition")
    expect(row).to_be_visible()
    text = " ".join(row.inner_text().split())
    assert re.search(r"at least times, at most in the last days", text), text
    assert "times,at" not in row.inner_text()
    assert not page.errors
