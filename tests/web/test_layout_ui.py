"""Every page fits the screen at 1440 and 375 px, with the demo leads and with the longest values
the API takes (255 characters without a space, an email as long as allowed), and axe-core finds
no serious or critical accessibility problem on any of them. Each page leaves a screenshot at
each width in tests/web/artifacts/."""

from __future__ import annotations

import re
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.web.conftest import WIDTHS, Site, log_in, open_page, screenshot

NAME_MAX = 255  # segment, list, campaign and fit rule names
EMAIL_MAX = 320  # an email address, whole
DOMAIN = "@example.com"

# One word each, so nothing can break it at a space.
SEGMENT_NAME = "Segment" + "s" * (NAME_MAX - len("Segment"))
LIST_NAME = "List" + "l" * (NAME_MAX - len("List"))
CAMPAIGN_NAME = "Campaign" + "c" * (NAME_MAX - len("Campaign"))
LONG_EMAIL = "e" * (EMAIL_MAX - len(DOMAIN)) + DOMAIN
LONG_LEAD = {
    "email": LONG_EMAIL,
    "first_name": "F" * NAME_MAX,
    "company": "Company" + "o" * (NAME_MAX - len("Company")),
    "job_title": "Title" + "t" * (NAME_MAX - len("Title")),
    "source": "Source" + "u" * (NAME_MAX - len("Source")),
    "status": "new",
}

IMPACTS_REFUSED = ("serious", "critical")
axe = Axe()  # axe-core as the package ships it, run through page.evaluate (no CSP in the way)


def _post(page: Any, path: str, body: dict[str, Any]) -> Any:
    """Creates through the page's own API client (the session cookie and its CSRF token)."""
    return page.evaluate("([path, body]) => api(path, { method: 'POST', body })", [path, body])


def _seed_long_values(page: Any) -> dict[str, int]:
    """A lead, segment, list, campaign and fit rule with the longest values; their ids."""
    lead = _post(page, "/leads", LONG_LEAD)
    segment = _post(
        page,
        "/segments",
        {
            "name": SEGMENT_NAME,
            "description": "D" * 500,
            "filter": {"field": "status", "op": "eq", "value": "new"},
        },
    )
    listed = _post(page, "/lists", {"name": LIST_NAME, "description": "L" * 500})
    _post(page, f"/lists/{listed['id']}/members", {"lead_ids": [lead["id"], 1, 2]})
    campaign = _post(
        page,
        "/campaigns",
        {
            "name": CAMPAIGN_NAME,
            "description": "C" * 500,
            "targeting": {"include_segments": [segment["id"]], "include_lists": [listed["id"]]},
            "subject": "S" * NAME_MAX,
            "body": "B" * 2000,
        },
    )
    _post(
        page,
        "/scoring/fit-rules",
        {
            "name": "R" * NAME_MAX,
            "filter": {"field": "status", "op": "eq", "value": "new"},
            "points": 5,
        },
    )
    return {
        "lead": lead["id"],
        "segment": segment["id"],
        "list": listed["id"],
        "campaign": campaign["id"],
    }


def _pages(ids: dict[str, int]) -> dict[str, str]:
    """Every page a logged-in user can open but the builder's (tested on its own, below)."""
    return {
        "segments": "/p/default/segments",
        "segment": f"/p/default/segments/{ids['segment']}",
        "leads": "/p/default/leads",
        "lead": f"/p/default/leads/{ids['lead']}",
        "lists": "/p/default/lists",
        "list": f"/p/default/lists/{ids['list']}",
        # the segment and the list of the longest names, compared: the picture and the tables
        "overlap": f"/p/default/overlap?segments={ids['segment']}&lists={ids['list']}",
        "campaigns": "/p/default/campaigns",
        "campaign": f"/p/default/campaigns/{ids['campaign']}",
        "campaign-new": "/p/default/campaigns/new",
        "campaign-edit": f"/p/default/campaigns/{ids['campaign']}/edit",
        "scoring": "/p/default/scoring",
        "settings": "/p/default/settings",
        "import": "/p/default/import",
        "not-found": "/p/default/" + "n" * NAME_MAX,
    }


def _visit(page: Any, site: Site, path: str) -> None:
    page.goto(f"{site.url}{path}")
    page.wait_for_load_state("networkidle")


# The innermost elements that reach past the window's right edge: what to fix when a page is
# too wide (their ancestors only stick out because of them).
STICKING_OUT = """() => {
  const out = [...document.body.querySelectorAll("*")]
    .filter((node) => node.getBoundingClientRect().right > window.innerWidth + 0.5);
  const innermost = out.filter((node) => !out.some((o) => o !== node && node.contains(o)));
  const name = (node) => node.tagName.toLowerCase() + (node.id ? `#${node.id}` : "")
    + [...node.classList].map((c) => `.${c}`).join("");
  return innermost.slice(0, 8).map((node) => [node.parentElement, node].map(name).join(" > "));
}"""


def _overflow(page: Any) -> str | None:
    """What is wrong with the page's width, if anything."""
    wide, window = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if wide <= window:
        return None
    return f"{wide} px wide in a {window} px window: {page.evaluate(STICKING_OUT)}"


def _serious_axe_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings, each with the elements it names."""
    found = axe.run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in found
        if v["impact"] in IMPACTS_REFUSED
    ]


def _check(page: Any, site: Site, name: str, width: str, problems: list[str]) -> None:
    """Measures, screenshots and axe-checks the page open now; adds what is wrong to problems."""
    too_wide = _overflow(page)
    if too_wide:
        problems.append(f"{name} at {width}: {too_wide}")
    screenshot(page, site, f"layout-{name}", width)
    problems.extend(f"{name} at {width}: {v}" for v in _serious_axe_violations(page))


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_and_passes_axe(site: Site, browser: Any, width: str) -> None:
    page = open_page(browser, width)
    log_in(page, site)
    ids = _seed_long_values(page)
    problems: list[str] = []
    for name, path in _pages(ids).items():
        _visit(page, site, path)
        _check(page, site, name, width, problems)
    visitor = open_page(browser, width)  # not logged in
    _visit(visitor, site, "/login")
    _check(visitor, site, "login", width, problems)
    assert not problems, "\n".join(problems)
    assert not page.errors


def test_why_is_in_view_at_1440(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    ids = _seed_long_values(page)
    _visit(page, site, f"/p/default/segments/{ids['segment']}")
    why = page.locator("#members tbody tr").first.get_by_role("button", name="Why?")
    expect(why).to_be_visible()
    box = why.bounding_box()
    wrap = page.locator("#members .table-wrap").bounding_box()
    right_edge = min(page.evaluate("window.innerWidth"), wrap["x"] + wrap["width"])
    assert box["x"] + box["width"] <= right_edge, (box, wrap)
    # The first member is the newest: the lead with the longest values, cut short with the
    # whole value on hover.
    email = page.locator("#members tbody tr").first.get_by_text(LONG_EMAIL)
    expect(email).to_have_attribute("title", LONG_EMAIL)


def test_a_segment_row_shows_its_count_and_state_at_375(site: Site, browser: Any) -> None:
    page = open_page(browser, "mobile")
    log_in(page, site)
    _seed_long_values(page)
    _visit(page, site, "/p/default/segments")
    row = page.locator("#segment-rows tr").filter(has=page.get_by_role("link", name=SEGMENT_NAME))
    members, state = row.locator('[data-label="Members"]'), row.locator('[data-label="State"]')
    expect(members).to_contain_text("31")  # the 30 demo leads and the long one are "new"
    expect(state).to_contain_text("Active")
    for cell in (members, state):
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, box


@pytest.mark.parametrize("width", WIDTHS)
def test_the_segment_builder_fits_and_passes_axe(site: Site, browser: Any, width: str) -> None:
    page = open_page(browser, width)
    log_in(page, site)
    ids = _seed_long_values(page)
    problems: list[str] = []
    for name, path in {
        "segment-new": "/p/default/segments/new",
        "segment-edit": f"/p/default/segments/{ids['segment']}/edit",
    }.items():
        _visit(page, site, path)
        _check(page, site, name, width, problems)
    assert not problems, "\n".join(problems)


def _focused_label(page: Any) -> str:
    return page.evaluate("document.activeElement.closest('label')?.textContent.trim() ?? ''")


def test_columns_are_chosen_by_keyboard_remembered_and_scroll_in_their_table(
    site: Site, browser: Any
) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    ids = _seed_long_values(page)
    _visit(page, site, "/p/default/leads")
    heads = page.locator("#lead-table thead th:not(.select)")  # after the box that ticks a row
    defaults = ["Name", "Email", "Company", "Job Title", "Status", "Score", "Created"]
    expect(heads).to_have_text([re.compile(f"^{label}") for label in defaults])
    window = page.evaluate("window.innerWidth")
    for label in ("Score", "Created"):  # the columns that were off-screen, in view by default
        box = heads.filter(has_text=label).bounding_box()
        assert box["x"] + box["width"] <= window, (label, box)

    # Tab from the search box, past Filter and "Assigned to me", reaches "Columns"; Enter opens
    # it on its first checkbox.
    page.get_by_label("Search leads").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Filter", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Assigned to me")).to_be_focused()
    page.keyboard.press("Tab")
    columns = page.get_by_role("button", name="Columns")
    expect(columns).to_be_focused()
    page.keyboard.press("Enter")
    expect(columns).to_have_attribute("aria-expanded", "true")
    assert _focused_label(page) == "Email"
    assert not _serious_axe_violations(page)
    screenshot(page, site, "layout-columns-menu", "desktop")
    for _ in range(8):
        if _focused_label(page) == "Source":
            break
        page.keyboard.press("Tab")
    assert _focused_label(page) == "Source"
    page.keyboard.press("Space")
    expect(heads.filter(has_text="Source")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.get_by_role("group", name="Show columns")).to_be_hidden()
    expect(columns).to_be_focused()

    page.reload()  # the choice is remembered
    expect(heads.filter(has_text="Source")).to_have_count(1)

    # Every column of a segment's members: wider than the page, the table scrolls in its
    # wrapper (which a keyboard can focus), the page does not, and the name column stays put.
    _visit(page, site, f"/p/default/segments/{ids['segment']}")
    columns.click()
    for box in page.get_by_role("group", name="Show columns").get_by_role("checkbox").all():
        if box.is_enabled():
            box.check()
    page.keyboard.press("Escape")
    wrap = page.locator("#members .table-wrap")
    assert wrap.evaluate("w => w.scrollWidth > w.clientWidth")
    expect(wrap).to_have_attribute("tabindex", "0")
    assert _overflow(page) is None
    first_row = page.locator("#members tbody tr").first
    # The first cell ticks the row, and stays put with the name beside it.
    name, email = first_row.locator("td").nth(1), first_row.locator("td").nth(2)
    before = (name.bounding_box()["x"], email.bounding_box()["x"])
    wrap.evaluate("w => { w.scrollLeft = 300; }")
    after = (name.bounding_box()["x"], email.bounding_box()["x"])
    assert after[0] == before[0] and after[1] < before[1], (before, after)
    assert not page.errors
