"""Missing things get a real not-found page (404) in a real browser: a segment, lead, list or
campaign that does not exist (or is another project's), and an address that names no page.
The API keeps answering in its own JSON shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from segmint.store.tables import segments
from tests.web.conftest import Site, log_in, open_page, screenshot

MISSING = 99999
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("path", "message", "back"),
    [
        (f"segments/{MISSING}", f"There is no segment {MISSING} in this project.", "segments"),
        (f"segments/{MISSING}/edit", f"There is no segment {MISSING} in this project.", "segments"),
        (f"leads/{MISSING}", f"There is no lead {MISSING} in this project.", "leads"),
        (f"lists/{MISSING}", f"There is no list {MISSING} in this project.", "lists"),
        (f"campaigns/{MISSING}", f"There is no campaign {MISSING} in this project.", "campaigns"),
        (
            f"campaigns/{MISSING}/edit",
            f"There is no campaign {MISSING} in this project.",
            "campaigns",
        ),
        (f"segments/{2**70}", f"There is no segment {2**70} in this project.", "segments"),
    ],
)
def test_a_missing_object_has_a_not_found_page(
    site: Site, browser: Any, path: str, message: str, back: str
) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    response = page.goto(f"{site.url}/p/default/{path}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator("main")).to_contain_text(message)
    expect(page.get_by_text("Loading")).to_have_count(0)
    page.get_by_role("link", name=f"Back to {back}").click()
    page.wait_for_url(f"**/p/default/{back}")
    assert not page.errors


def test_an_address_that_names_no_page_has_a_not_found_page(site: Site, browser: Any) -> None:
    for width in ("desktop", "mobile"):
        page = open_page(browser, width)
        log_in(page, site)
        for path in ("/nothing-here", "/p/default/nothing-here", "/static/missing.js"):
            response = page.goto(f"{site.url}{path}")
            assert response is not None and response.status == 404
            expect(page.locator("main")).to_contain_text(f"There is no page at {path}.")
        screenshot(page, site, "not-found", width)
        page.get_by_role("link", name="Back to your segments").click()
        page.wait_for_url("**/p/default/segments")


def test_a_segment_that_exists_still_opens_and_one_deleted_does_not(
    site: Site, browser: Any
) -> None:
    with site.engine.begin() as conn:
        segment_id = conn.execute(
            segments.insert()
            .values(
                project_id=site.project.id,
                name="Soon gone",
                filter={"field": "status", "op": "eq", "value": "new"},
                active=False,
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(segments.c.id)
        ).scalar_one()
    page = open_page(browser, "desktop")
    log_in(page, site)
    response = page.goto(f"{site.url}/p/default/segments/{segment_id}")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", name="Soon gone")).to_be_visible()
    with site.engine.begin() as conn:
        conn.execute(sa.delete(segments).where(segments.c.id == segment_id))
    response = page.goto(f"{site.url}/p/default/segments/{segment_id}")
    assert response is not None and response.status == 404


def test_the_api_keeps_its_json_errors(site: Site) -> None:
    html = {"Accept": "text/html"}
    for path in ("/api/v1/nothing-here", "/api/v1/projects/default/nothing-here"):
        answer = httpx.get(f"{site.url}{path}", headers=html, timeout=30)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
    answer = httpx.get(
        f"{site.url}/nothing-here", headers={"Accept": "application/json"}, timeout=30
    )
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


def test_an_api_failure_nothing_handles_is_shown_not_thrown(site: Site, browser: Any) -> None:
    page = open_page(browser, "desktop")
    log_in(page, site)
    # A load nobody awaits, of a segment deleted meanwhile: its 404 is told as a toast.
    page.evaluate(f"() => {{ api('/segments/{MISSING}'); }}")
    expect(page.locator(".toast.error").last).to_contain_text(f"no segment {MISSING}")
    assert not page.errors
    # A rejection that is not the API's answer is a bug, and stays an error of the page.
    page.evaluate("() => { Promise.reject(new TypeError('a bug')); }")
    page.wait_for_timeout(300)
    assert page.errors == ["a bug"]
