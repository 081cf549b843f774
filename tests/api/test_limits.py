"""Request limits over HTTP on both databases: body size (declared and streamed), per-caller
rate limiting with Retry-After, and the statement timeout's clear error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.api import limits
from segmint.api.app import create_app
from segmint.api.limits import Limits
from segmint.ingest import upsert_leads
from segmint.projects import Project
from segmint.store.tables import users
from tests.api.conftest import BASE, Api, error_of


def _client(db: Engine, limits: Limits) -> TestClient:
    return TestClient(create_app(db, limits=limits))


def _headers(api: Api, who: str = "owner") -> dict[str, str]:
    return {"Authorization": f"Bearer {api.tokens[who]}"}


def test_bodies_over_the_limit_are_refused(db: Engine, api: Api) -> None:
    with _client(db, Limits(body_bytes=1000, requests_per_minute=0)) as client:
        big = {"leads": [{"email": f"l{i}@x.test"} for i in range(100)]}
        declared = client.post(f"{BASE}/leads/bulk", json=big, headers=_headers(api))
        assert declared.status_code == 413
        assert error_of(declared)["message"] == "the request body is larger than 1000 bytes"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"leads": ['
            for i in range(100):
                yield b'{"email": "l%d@x.test"},' % i
            yield b'{"email": "last@x.test"}]}'

        headers = {**_headers(api), "Content-Type": "application/json"}
        streamed = client.post(f"{BASE}/leads/bulk", content=chunks(), headers=headers)
        assert streamed.status_code == 413 and error_of(streamed)["code"] == "too_large"
        small = client.post(
            f"{BASE}/leads/bulk", json={"leads": [{"email": "a@x.test"}]}, headers=_headers(api)
        )
        assert small.status_code == 200 and small.json()["created"] == 1


def test_each_caller_has_its_own_rate(db: Engine, api: Api) -> None:
    # One a minute after the burst: however slow the machine, no token comes back mid-test.
    with _client(db, Limits(requests_per_minute=1, burst=3)) as client:
        answers = [
            client.get(f"{BASE}/segments", headers=_headers(api)).status_code for _ in range(4)
        ]
        assert answers == [200, 200, 200, 429]
        limited = client.get(f"{BASE}/segments", headers=_headers(api))
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "at most 1 a minute" in error_of(limited)["message"]
        # Another token is not held back by the first one's burst.
        assert client.get(f"{BASE}/segments", headers=_headers(api, "admin")).status_code == 200
        # Pages and health checks are not rate limited.
        assert client.get("/healthz").status_code == 200


def test_a_runaway_query_is_cancelled_with_a_clear_error(
    db: Engine, api: Api, project: Project
) -> None:
    records = [{"email": f"l{i}@x.test", "company": f"Company {i}"} for i in range(3000)]
    upsert_leads(db, project, enumerate(records))
    heavy = {"or": [{"field": "company", "op": "contains", "value": f"x{i}"} for i in range(150)]}
    with _client(db, Limits(statement_timeout=0.001, requests_per_minute=0)) as client:
        answer = client.post(
            f"{BASE}/segments/preview", json={"filter": heavy}, headers=_headers(api)
        )
        assert answer.status_code == 503, answer.text
        error = error_of(answer)
        assert error["code"] == "timeout"
        assert "ran longer than 0.001 s and was cancelled" in error["message"]
        # The connection it ran on is fine for the next request.
    with _client(db, Limits(requests_per_minute=0)) as client:
        answer = client.post(
            f"{BASE}/segments/preview", json={"filter": heavy}, headers=_headers(api)
        )
        assert answer.status_code == 200 and answer.json()["count"] == 0


def test_log_in_attempts_are_rate_limited_by_address(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        owner = conn.execute(sa.select(users.c.id).where(users.c.email == "owner@acme.test"))
        auth.set_password(conn, owner.scalar_one(), "correct horse battery")
    with _client(db, Limits(requests_per_minute=1, burst=2)) as client:
        statuses = [
            client.post(
                "/login", data={"email": "owner@acme.test", "password": "wrong"}
            ).status_code
            for _ in range(3)
        ]
        assert statuses[-1] == 429


def test_rate_buckets_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many addresses call, only callers still short of a full bucket are kept."""
    monkeypatch.setattr(limits, "MAX_CALLERS", 10)
    now = [0.0]
    limiter = limits.RateLimit(app=None, limits=Limits(requests_per_minute=60, burst=5))  # type: ignore[arg-type]
    limiter.clock = lambda: now[0]
    for caller in range(10):
        limiter._take(f"address:{caller}")
    now[0] += 60  # every bucket has refilled: those callers are as if never seen
    limiter._take("address:new")
    assert list(limiter._buckets) == ["address:new"]
