"""Reads write at most once a minute, on both databases: a token's last use and a segment's last
evaluation are recorded when the stored time is a minute old, not on every request (on SQLite
each write takes the database's one write lock, so every view of a segment's page queued)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.app import create_app
from segmint.clock import FrozenClock
from segmint.store.tables import users
from tests.api.conftest import Api

WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def timed(api: Api, db: Engine, clock: FrozenClock) -> Iterator[Api]:
    """The same users over an app whose clock the test moves."""
    with TestClient(create_app(db, clock=clock)) as client:
        yield Api(client, api.project, api.tokens)


@pytest.fixture
def writes(db: Engine) -> Iterator[list[str]]:
    """The writes sent to the database, as "UPDATE table" (the test clears it as it goes)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        words = statement.split()
        if words and words[0].upper() in WRITES:
            target = words[2] if words[0].upper() in ("INSERT", "DELETE") else words[1]
            seen.append(f"{words[0].upper()} {target}")

    sa.event.listen(db, "before_cursor_execute", record)
    yield seen
    sa.event.remove(db, "before_cursor_execute", record)


def _writes_per_request(api: Api, writes: list[str], path: str, times: int) -> list[list[str]]:
    per_request = []
    for _ in range(times):
        writes.clear()
        response = api.get(path)
        assert response.status_code == 200, response.text
        per_request.append(list(writes))
    return per_request


def _segment(api: Api) -> int:
    body = {"name": "Qualified", "filter": {"field": "status", "op": "eq", "value": "qualified"}}
    response = api.post("segments", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _last_used(api: Api) -> datetime:
    (token,) = api.get("/api/v1/tokens").json()["items"]
    return datetime.fromisoformat(token["last_used_at"])


def test_reads_with_one_token_write_once_a_minute(
    timed: Api, writes: list[str], clock: FrozenClock
) -> None:
    segment_id = _segment(timed)
    clock.advance(timedelta(minutes=5))  # both times recorded are now stale

    counts = _writes_per_request(timed, writes, f"segments/{segment_id}/count", 5)
    assert counts == [["UPDATE api_tokens", "UPDATE segments"]] + [[]] * 4
    members = _writes_per_request(timed, writes, f"segments/{segment_id}/members", 5)
    assert members == [[]] * 5
    pages = _writes_per_request(timed, writes, f"segments/{segment_id}", 5)
    assert pages == [[]] * 5
    evaluated = clock.now()
    shown = timed.get(f"segments/{segment_id}").json()["last_evaluated_at"]
    assert datetime.fromisoformat(shown) == evaluated
    assert _last_used(timed) == evaluated

    clock.advance(timedelta(seconds=59))  # under a minute: still shown as it was
    assert _writes_per_request(timed, writes, f"segments/{segment_id}", 1) == [[]]
    shown = timed.get(f"segments/{segment_id}").json()["last_evaluated_at"]
    assert datetime.fromisoformat(shown) == evaluated

    clock.advance(timedelta(seconds=1))  # a minute since: recorded again, once
    again = _writes_per_request(timed, writes, f"segments/{segment_id}", 3)
    assert again == [["UPDATE api_tokens", "UPDATE segments"], [], []]
    shown = timed.get(f"segments/{segment_id}").json()["last_evaluated_at"]
    assert datetime.fromisoformat(shown) == clock.now()
    assert _last_used(timed) == clock.now()


def test_a_members_read_records_only_the_token(
    timed: Api, writes: list[str], clock: FrozenClock
) -> None:
    segment_id = _segment(timed)
    clock.advance(timedelta(minutes=1))
    members = _writes_per_request(timed, writes, f"segments/{segment_id}/members", 5)
    assert members == [["UPDATE api_tokens"]] + [[]] * 4
    assert _last_used(timed) == clock.now()


def test_viewing_a_segment_page_in_a_browser_writes_once_a_minute(
    timed: Api, db: Engine, clock: FrozenClock, writes: list[str]
) -> None:
    """The page and the API calls its script makes, with the session cookie, five times over."""
    with db.begin() as conn:
        owner = conn.execute(sa.select(users.c.id).where(users.c.email == "owner@acme.test"))
        session = auth.start_session(conn, owner.scalar_one(), clock)
    segment_id = _segment(timed)
    clock.advance(timedelta(minutes=10))  # the session's last sight and the evaluation are stale
    with TestClient(create_app(db, clock), base_url="https://segmint.test") as browser:
        browser.cookies.set(auth.SESSION_COOKIE, session, domain="segmint.test")
        views = []
        for _ in range(5):
            writes.clear()
            for path in (
                f"/p/default/segments/{segment_id}",
                f"/api/v1/projects/default/segments/{segment_id}",
                f"/api/v1/projects/default/segments/{segment_id}/members",
            ):
                assert browser.get(path).status_code == 200, path
            views.append(list(writes))
    assert views == [["UPDATE web_sessions", "UPDATE segments"]] + [[]] * 4
