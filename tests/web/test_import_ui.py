"""The import page in a real browser: columns mapped to enrichment paths and custom fields with
sample values beside them, and a file's encoding and quoting problems shown before Import."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from segmint.projects import add_custom_field
from segmint.store.tables import leads
from tests.web.conftest import Site, log_in, open_page, screenshot

LONG_HEADER = "Customer notes written by the account team during the first discovery call"
MAPPED_CSV = (
    f"Email,Org,Headcount,Tier,Founded,{LONG_HEADER}\n"
    "new0@example.com,Umbrella,250,gold,1999," + "a long note that goes on " * 8 + "\n"
    "new1@example.com,Umbrella,40,silver,2004,short\n"
    "new2@example.com,Initrode,7,gold,2015,\n"
)


def _row(page: Any, column: str) -> Any:
    """The mapping row of one CSV column."""
    return page.locator("#mapping-rows li").filter(has=page.get_by_label(column, exact=True))


def _no_sideways_scroll(page: Any) -> None:
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right"
        " > window.innerWidth + 1).map((e) => `${e.tagName}#${e.id}.${e.className}`)"
    )
    assert not wide, ", ".join(wide[:25])


def test_map_to_enrichment_and_custom_fields_with_samples_then_import(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    with site.engine.begin() as conn:
        add_custom_field(conn, site.project.id, "tier_level", label="Customer tier")
    path = tmp_path / "leads.csv"
    path.write_text(MAPPED_CSV, encoding="utf-8")

    for width in ("mobile", "desktop"):
        page = open_page(browser, width)
        log_in(page, site)
        page.goto(f"{site.url}/p/default/import")
        expect(page.get_by_role("button", name="Import")).to_be_disabled()
        page.get_by_label("CSV file").set_input_files(path)
        expect(page.get_by_label("Email", exact=True)).to_have_value("email")
        expect(page.get_by_label("Org", exact=True)).to_have_value("company")  # an alias
        expect(_row(page, "Headcount").locator(".samples")).to_have_text("e.g. 250 · 40 · 7")
        notes = _row(page, LONG_HEADER)
        expect(notes.locator(".column-name")).to_have_attribute("title", LONG_HEADER)
        expect(notes.locator(".samples")).to_have_attribute(
            "title", re.compile(r"^a long note that goes on .*…\nshort$")
        )
        # A warning (no file-level error): Import stays enabled.
        expect(page.get_by_role("button", name="Import")).to_be_enabled()
        _no_sideways_scroll(page)
        if width == "mobile":
            screenshot(page, site, "import-mapping", width)
            page.context.close()

    page.get_by_label("Headcount", exact=True).select_option("enrichment.company.size")
    page.get_by_label("Tier", exact=True).select_option("custom.tier_level")
    founded = _row(page, "Founded")
    page.get_by_label("Founded", exact=True).select_option(label="Another enrichment path…")
    path_input = founded.get_by_label("Enrichment path")
    expect(path_input).to_be_focused()  # keyboard users type straight on
    path_input.fill("company founded")
    expect(founded.locator(".field-error")).to_contain_text(
        "Founded=enrichment.company founded: unknown field"
    )
    expect(page.locator("#import-blocked")).to_contain_text("Fix the problems above")
    expect(page.get_by_role("button", name="Import")).to_be_disabled()
    path_input.fill("company.founded")
    expect(founded.locator(".field-error")).to_be_empty()
    expect(page.get_by_role("button", name="Import")).to_be_enabled()
    page.get_by_label(LONG_HEADER, exact=True).select_option("")
    screenshot(page, site, "import-mapping", "desktop")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-text")).to_have_text(
        "Imported: 3 created, 0 updated, 0 skipped, 0 failed."
    )
    with site.engine.connect() as conn:
        stored = {
            row.email: row
            for row in conn.execute(
                sa.select(leads.c.email, leads.c.company, leads.c.enrichment, leads.c.custom).where(
                    leads.c.email.like("new%")
                )
            )
        }
    assert stored["new0@example.com"].company == "Umbrella"
    assert stored["new0@example.com"].enrichment == {"company": {"size": 250, "founded": 1999}}
    assert stored["new0@example.com"].custom == {"tier_level": "gold"}
    assert stored["new2@example.com"].custom == {"tier_level": "gold"}
    assert page.errors == []


def test_encoding_and_quoting_problems_are_shown_before_import(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    excel = tmp_path / "excel.csv"
    excel.write_bytes("Email,Org\nzoe@example.com,Société Générale\n".encode("cp1252"))
    unclosed = tmp_path / "unclosed.csv"
    unclosed.write_text(
        'Email,Org\nada@example.com,"Engines\nbob@example.com,Bobco\n', encoding="utf-8"
    )

    for width in ("mobile", "desktop"):
        page = open_page(browser, width)
        log_in(page, site)
        page.goto(f"{site.url}/p/default/import")
        page.get_by_label("CSV file").set_input_files(excel)
        expect(page.locator("#check-list li.error")).to_have_text(
            re.compile(r"^Line 2: the file is not UTF-8: byte 0xE9 at column 21 .*Windows-1252")
        )
        expect(page.get_by_role("button", name="Import")).to_be_disabled()
        expect(page.locator("#import-blocked")).to_contain_text("Fix the problems above")
        expect(page.locator("#mapping")).to_be_hidden()
        _no_sideways_scroll(page)
        screenshot(page, site, "import-encoding", width)

        page.get_by_label("File encoding").select_option("windows-1252")
        expect(page.locator("#check-problems")).to_be_hidden()
        expect(_row(page, "Org").locator(".samples")).to_have_text("e.g. Société Générale")
        expect(page.get_by_role("button", name="Import")).to_be_enabled()

        page.get_by_label("File encoding").select_option("utf-8")
        page.get_by_label("CSV file").set_input_files(unclosed)
        expect(page.locator("#check-list li.error")).to_have_text(
            [re.compile(r"^Line 2: unclosed quote: the quoted field starting on this line never")]
        )
        expect(page.get_by_role("button", name="Import")).to_be_disabled()
        expect(_row(page, "Email").locator(".samples")).to_have_text("e.g. bob@example.com")
        _no_sideways_scroll(page)
        screenshot(page, site, "import-unclosed-quote", width)
        assert page.errors == []
        page.context.close()
