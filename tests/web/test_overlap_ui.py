"""The Overlap page in a real browser: choose segments and lists, read each region's count in
the picture and the table, and click a region to see exactly its leads on the Leads page."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, log_in, open_page, screenshot

# Of the 60 seeded leads (tests/web/conftest.py): "new" are the even ones, CEOs every third,
# the webinar's source every fifth.
HOT = {"field": "status", "op": "eq", "value": "new"}
CEOS = {"field": "job_title", "op": "eq", "value": "CEO"}
WEBINAR_SOURCE = {"field": "source", "op": "eq", "value": "webinar"}

SEED = """async ([hot, ceos, webinar]) => {
  const post = (path, body) => api(path, { method: "POST", body });
  const hotId = (await post("/segments", { name: "Hot leads", filter: hot })).id;
  const ceoId = (await post("/segments", { name: "CEOs", filter: ceos })).id;
  const list = await post("/lists", { name: "Webinar" });
  const params = new URLSearchParams({ filter: JSON.stringify(webinar), per_page: 100 });
  const attendees = (await api(`/leads?${params}`)).items.map((lead) => lead.id);
  await post(`/lists/${list.id}/members`, { lead_ids: attendees });
  const vip = await post("/lists", { name: "VIP" });
  const newest = (await api("/leads?per_page=10")).items.map((lead) => lead.id);
  await post(`/lists/${vip.id}/members`, { lead_ids: newest });
  return [hotId, ceoId, list.id];
}"""


def _region_row(page: Any, words: str) -> Any:
    table = page.get_by_role("table", name="Each region")
    return table.locator("tbody tr").filter(has_text=words)


def test_compare_a_segment_and_a_list_then_open_a_region(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    hot, ceos, webinar = page.evaluate(SEED, [HOT, CEOS, WEBINAR_SOURCE])

    page.get_by_role("link", name="Compare overlap").click()
    page.wait_for_url("**/p/default/overlap")
    page.get_by_label("Segment or list 1", exact=True).select_option(label="Hot leads")
    page.get_by_label("Segment or list 2", exact=True).select_option(label="Webinar")
    page.get_by_role("button", name="Compare").click()

    # Even and a multiple of 5: 6 of the 30 hot leads went to the webinar.
    expect(_region_row(page, "In both “Hot leads” and “Webinar”")).to_contain_text("6")
    expect(_region_row(page, "Only in “Hot leads”")).to_contain_text("24")
    expect(_region_row(page, "Only in “Webinar”")).to_contain_text("6")
    expect(page.get_by_role("table", name="The sets compared").locator("tbody tr")).to_have_text(
        [re.compile(r"A\s*Hot leads.*30"), re.compile(r"B\s*Webinar.*12")]
    )
    assert f"segments={hot}" in page.url and f"lists={webinar}" in page.url  # shareable

    # The picture's bar for "in both" opens the Leads page on exactly those leads.
    bar = page.locator("svg.upset a[data-sets='AB']")
    expect(bar).to_have_attribute("aria-label", re.compile(r"Hot leads.*Webinar.*: 6 leads"))
    bar.click()
    page.wait_for_url(re.compile(r".*/p/default/leads\?filter="))
    expect(page.locator("#lead-table .pager")).to_contain_text("6 in all")
    expect(page.locator("#address-filter")).to_have_text(
        "Showing leads in segment “Hot leads” and in list “Webinar” · Show all leads"
    )
    emails = page.locator("#lead-table tbody tr td:nth-child(3)")  # after the box and the name
    expect(emails).to_have_count(6)
    assert sorted(emails.all_inner_texts()) == [
        f"lead{i:02d}@example.com" for i in range(0, 60, 10)
    ]
    # The builder opens on that filter, and the page's filter can be saved as a segment.
    page.get_by_role("button", name="Filter", exact=True).click()
    references = page.get_by_role("group", name="Reference")
    expect(references).to_have_count(2)
    expect(references.first.get_by_role("combobox", name="Segment", exact=True)).to_have_value(
        str(hot)
    )
    expect(references.last.get_by_role("combobox", name="List")).to_have_value(str(webinar))
    expect(page.get_by_role("button", name="Save filter as segment")).to_be_enabled()

    # From a segment's page, "Compare with..." starts with it chosen; a third set is added.
    page.goto(f"{site.url}/p/default/segments/{hot}")
    page.get_by_role("link", name="Compare with…").click()
    expect(page.get_by_label("Segment or list 1", exact=True)).to_have_value(f"segment:{hot}")
    page.get_by_label("Segment or list 2", exact=True).select_option(label="CEOs")
    page.get_by_role("button", name="Add another").click()
    page.get_by_label("Segment or list 3", exact=True).select_option(label="Webinar")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("table", name="Each region").locator("tbody tr")).to_have_count(7)
    everywhere = _region_row(page, "In all of “Hot leads”, “CEOs” and “Webinar”")
    expect(everywhere).to_contain_text("2")  # 0 and 30
    expect(page.get_by_role("table", name="Each pair").locator("tbody tr")).to_have_count(3)
    everywhere.get_by_role("link").click()
    expect(page.locator("#lead-table .pager")).to_contain_text("2 in all")
    assert ceos and page.errors == []


def test_the_page_says_what_is_wrong(site: Site, browser: Any) -> None:
    page = open_page(browser, "mobile")
    log_in(page, site)
    page.evaluate(SEED, [HOT, CEOS, WEBINAR_SOURCE])
    page.goto(f"{site.url}/p/default/overlap")
    page.get_by_label("Segment or list 1", exact=True).select_option(label="CEOs")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("alert")).to_have_text("Choose at least two segments or lists.")
    page.get_by_label("Segment or list 2", exact=True).select_option(label="CEOs")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("alert")).to_contain_text("chosen twice")
    for _ in range(2):
        page.get_by_role("button", name="Add another").click()
    expect(page.get_by_role("button", name="Add another")).to_be_disabled()  # four at most
    page.get_by_role("button", name="Remove segment or list 4").click()
    expect(page.get_by_label("Segment or list 4", exact=True)).to_have_count(0)

    # Four sets at 375 px: fifteen regions, the picture and the tables within the screen.
    page.get_by_role("button", name="Add another").click()
    for number, name in ((2, "Hot leads"), (3, "Webinar"), (4, "VIP")):
        page.get_by_label(f"Segment or list {number}", exact=True).select_option(label=name)
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("table", name="Each region").locator("tbody tr")).to_have_count(15)
    expect(page.locator("svg.upset a.region")).to_have_count(15)
    expect(page.locator("#overlap-problem")).to_be_empty()
    wide, window = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert wide <= window
    picture = page.locator("svg.upset").bounding_box()
    assert picture["x"] >= 0 and picture["x"] + picture["width"] <= window, picture
    screenshot(page, site, "overlap-four", "mobile")
    assert page.errors == []
