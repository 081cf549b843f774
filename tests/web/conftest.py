"""A real server (uvicorn on a free port, over the test's database) and a real browser (Debian's
chromium driven by Playwright). Screenshots land in tests/web/artifacts/ (or
$SEGMINT_TEST_ARTIFACTS) so a run leaves pictures of every main page at both widths."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import expect
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.app import create_app
from segmint.ingest import ingest_events, upsert_leads
from segmint.projects import Project
from segmint.store.tables import users
from segmint.worker.loop import start_in_thread

# Waits for the page, not measures: a page waits on the server, which on a loaded CI machine
# (a worker rescoring beside it, two cores) was seen to take over Playwright's default 5 s.
expect.set_options(timeout=20_000)

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("SEGMINT_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))
PASSWORD = "correct horse battery"
WIDTHS = {"desktop": (1440, 900), "mobile": (375, 800)}

# 60 leads (two pages of 50): 30 "new" and 30 "contacted"; every third is a CEO.
STATUSES = ("new", "contacted")


def seed_leads() -> list[dict[str, Any]]:
    leads = []
    for i in range(60):
        leads.append(
            {
                "email": f"lead{i:02d}@example.com",
                "first_name": f"First{i:02d}",
                "last_name": f"Last{i:02d}",
                "company": "Initech" if i % 4 == 0 else f"Company {i:02d}",
                "job_title": "CEO" if i % 3 == 0 else "Engineer",
                "status": STATUSES[i % 2],
                "source": "webinar" if i % 5 == 0 else "referral",
                "tags": ["vip"] if i % 6 == 0 else [],
            }
        )
    return leads


@dataclass
class Site:
    url: str
    engine: Engine
    project: Project
    email: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def site(db: Engine, project: Project) -> Iterator[Site]:
    """The app served over HTTP with the seeded leads and an owner who can log in."""
    with db.begin() as conn:
        owner = conn.execute(users.select().where(users.c.email == "owner@acme.test")).one()
        auth.set_password(conn, owner.id, PASSWORD)
    upsert_leads(db, project, enumerate(seed_leads()))
    ingest_events(
        db,
        project,
        enumerate(
            {"email": f"lead{i:02d}@example.com", "type": "trial_signup"} for i in range(0, 60, 2)
        ),
    )
    port = _free_port()
    stop_worker = start_in_thread(db)  # as `segmint serve` does: history, analytics, webhooks
    server = uvicorn.Server(
        uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield Site(f"http://127.0.0.1:{port}", db, project, "owner@acme.test")
    server.should_exit = True
    thread.join(timeout=10)
    stop_worker.set()
    for running in threading.enumerate():  # before the database goes
        if running.name.startswith("segmint-"):
            running.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


_open_pages: list[Any] = []


def open_page(browser: Any, width: str) -> Any:
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h}, accept_downloads=True)
    page = context.new_page()
    page.errors = []  # uncaught script errors fail the test that reads them
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.csp_violations = []  # anything the Content-Security-Policy blocked fails the test
    page.on("console", lambda message: _note_csp_violation(page, message))
    _open_pages.append(page)
    return page


def _note_csp_violation(page: Any, message: Any) -> None:
    if "Content Security Policy" in message.text:
        page.csp_violations.append(message.text)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A failing browser test leaves a picture of where it stopped; a page that had something
    blocked by the Content-Security-Policy fails its test."""
    try:
        result = yield
        blocked = [v for page in _open_pages for v in getattr(page, "csp_violations", [])]
        assert not blocked, f"blocked by the Content-Security-Policy: {blocked}"
        return result
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(_open_pages):
            if not page.is_closed():
                page.screenshot(path=ARTIFACTS / f"FAILED-{item.name}-{i}.png", full_page=True)
        raise
    finally:
        _open_pages.clear()


def log_in(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/")
    page.get_by_label("Email").fill(site.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/p/default/segments")


def pick(scope: Any, label: str, *values: str) -> None:
    """Chooses values in one of the builder's pickers as a user does: type, then Enter (the
    highlighted entry: the value from the data that matches best, or the typed text)."""
    box = scope.get_by_role("combobox", name=label, exact=True)
    # A single picker showing its choice hides its text box until focused: click the control.
    control = box.locator("xpath=ancestor::div[contains(@class, 'ts-control')]")
    page = getattr(scope, "page", scope)  # a locator knows its page; a page is one
    keyboard = page.keyboard
    # Tom Select takes a click's focus a moment later (a timer): typing before that is wiped.
    wrapper = box.locator("xpath=ancestor::div[contains(@class, 'ts-wrapper')]")
    for value in values:
        control.click()
        expect(wrapper).to_have_class(re.compile(r"\bfocus\b"))
        box.fill(value)
        # The list is narrowed a moment after typing: wait until what Enter takes matches.
        active = page.locator(".ts-dropdown:visible .active").first
        expect(active).to_contain_text(re.compile(re.escape(value), re.IGNORECASE))
        keyboard.press("Enter")
    if len(values) > 1:
        keyboard.press("Escape")


def screenshot(page: Any, site: Site, name: str, width: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    backend = site.engine.dialect.name
    page.screenshot(path=ARTIFACTS / f"{name}-{width}-{backend}.png", full_page=True)
