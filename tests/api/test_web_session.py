"""Log-in, sessions and CSRF: what protects the browser's cookie-authenticated calls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.app import create_app
from segmint.clock import FrozenClock
from segmint.projects import Project
from segmint.store.tables import users, web_sessions

PASSWORD = "s3cret-enough"
SEGMENTS = "/api/v1/projects/default/segments"


@pytest.fixture
def browser(db: Engine, project: Project, clock: FrozenClock) -> Iterator[TestClient]:
    with db.begin() as conn:
        owner = conn.execute(sa.select(users.c.id).where(users.c.email == "owner@acme.test"))
        auth.set_password(conn, owner.scalar_one(), PASSWORD)
    with TestClient(create_app(db, clock), base_url="https://segmint.test") as client:
        yield client


def _csrf_of_form(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def log_in(client: TestClient, password: str = PASSWORD, next_path: str = "/") -> str:
    form = client.get("/login")
    response = client.post(
        "/login",
        data={
            "email": "Owner@Acme.test",
            "password": password,
            "csrf": _csrf_of_form(form.text),
            "next": next_path,
        },
        follow_redirects=False,
    )
    return response.headers.get("location", response.text)


def _page_csrf(client: TestClient) -> str:
    page = client.get("/p/default/segments")
    found = re.search(r'"csrf": "([0-9a-f]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_pages_send_strangers_to_log_in(browser: TestClient) -> None:
    response = browser.get("/p/default/segments?scope=all", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/p/default/segments"


def test_logging_in_sets_a_safe_cookie_and_goes_where_asked(browser: TestClient) -> None:
    assert log_in(browser, next_path="/p/default/leads") == "/p/default/leads"
    cookie = next(
        h for h in browser.cookies.jar if h.name == auth.SESSION_COOKIE
    )  # the jar keeps what the server set
    assert cookie.secure  # https: the cookie never travels in clear
    assert cookie.has_nonstandard_attr("HttpOnly")
    page = browser.get("/p/default/segments")
    assert page.status_code == 200
    assert "owner@acme.test" in page.text


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_log_in_never_redirects_off_site(browser: TestClient, target: str) -> None:
    assert log_in(browser, next_path=target) == "/"


def test_a_wrong_password_is_refused_without_saying_which_part(browser: TestClient) -> None:
    form = browser.get("/login")
    response = browser.post(
        "/login",
        data={
            "email": "owner@acme.test",
            "password": "nope-nope",
            "csrf": _csrf_of_form(form.text),
        },
    )
    assert response.status_code == 401
    assert "Invalid email or password." in response.text
    assert auth.SESSION_COOKIE not in browser.cookies


def test_the_log_in_form_needs_its_csrf_cookie(browser: TestClient) -> None:
    response = browser.post(
        "/login", data={"email": "owner@acme.test", "password": PASSWORD, "csrf": "forged"}
    )
    assert response.status_code == 403
    assert auth.SESSION_COOKIE not in browser.cookies


def test_each_log_in_starts_a_new_session(browser: TestClient, db: Engine) -> None:
    log_in(browser)
    first = browser.cookies[auth.SESSION_COOKIE]
    log_in(browser)
    assert browser.cookies[auth.SESSION_COOKIE] != first
    with db.connect() as conn:
        stored = conn.execute(sa.select(web_sessions.c.token_hash)).scalars().all()
    assert first not in stored and auth.hash_token(first) in stored  # only hashes are kept


def test_cookie_writes_to_the_api_need_the_csrf_header(browser: TestClient) -> None:
    log_in(browser)
    body = {"name": "By browser", "filter": {"field": "status", "op": "eq", "value": "new"}}
    assert browser.get(SEGMENTS).status_code == 200  # reads need no token
    refused = browser.post(SEGMENTS, json=body)
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["error"]["message"]
    wrong = browser.post(SEGMENTS, json=body, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    made = browser.post(SEGMENTS, json=body, headers={"X-CSRF-Token": _page_csrf(browser)})
    assert made.status_code == 201


def test_log_out_ends_the_session_for_good(browser: TestClient) -> None:
    log_in(browser)
    cookie = browser.cookies[auth.SESSION_COOKIE]
    assert browser.post("/logout", data={"csrf": "forged"}).status_code == 403
    response = browser.post("/logout", data={"csrf": _page_csrf(browser)}, follow_redirects=False)
    assert response.headers["location"] == "/login"
    browser.cookies.set(auth.SESSION_COOKIE, cookie, domain="segmint.test")  # replayed
    assert browser.get(SEGMENTS).status_code == 401
    assert browser.get("/p/default/segments", follow_redirects=False).status_code == 303


def test_idle_sessions_expire(browser: TestClient, clock: FrozenClock) -> None:
    log_in(browser)
    clock.advance(auth.SESSION_IDLE - timedelta(minutes=1))
    assert browser.get(SEGMENTS).status_code == 200  # used: the idle timer restarts
    clock.advance(auth.SESSION_IDLE - timedelta(minutes=1))
    assert browser.get(SEGMENTS).status_code == 200
    clock.advance(auth.SESSION_IDLE + timedelta(minutes=1))
    response = browser.get(SEGMENTS)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "your session has ended: log in again"


def test_sessions_end_after_their_lifetime_however_busy(
    browser: TestClient, clock: FrozenClock
) -> None:
    log_in(browser)
    for _ in range(6):
        clock.advance(timedelta(days=5))
        browser.get(SEGMENTS)
    assert browser.get(SEGMENTS).status_code == 401  # 30 days after log-in


def test_another_organizations_project_is_not_a_page(browser: TestClient, db: Engine) -> None:
    from segmint.projects import create_project

    with db.begin() as conn:
        create_project(conn, auth.create_organization(conn, "Globex"), "globex")
    log_in(browser)
    page = browser.get("/p/globex/segments")
    assert page.status_code == 404
    assert "There is no project &#39;globex&#39; in your organization." in page.text
