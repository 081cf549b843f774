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
from segmint.api.limits import Limits
from segmint.app import create_app
from segmint.index import Settings as IndexSettings
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
    # The statement timeout guards SQL; the columnar index would answer this in memory.
    sql_only = IndexSettings(enabled=False)
    slow = Limits(statement_timeout=0.001, requests_per_minute=0)
    with TestClient(create_app(db, limits=slow, index=sql_only)) as client:
        answer = client.post(
            f"{BASE}/segments/preview", json={"filter": heavy}, headers=_headers(api)
        )
        assert answer.status_code == 503, answer.text
        error = error_of(answer)
        assert error["code"] == "timeout"
        assert "ran longer than 0.001 s and was cancelled" in error["message"]
        # The connection it ran on is fine for the next request.
    with TestClient(create_app(db, limits=Limits(requests_per_minute=0), index=sql_only)) as client:
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


def _failed_log_ins(client: TestClient, forwarded_for: list[str]) -> list[int]:
    return [
        client.post(
            "/login",
            data={"email": "owner@acme.test", "password": "wrong-password"},
            headers={"X-Forwarded-For": address},
        ).status_code
        for address in forwarded_for
    ]


def test_a_forged_forwarded_for_does_not_dodge_the_log_in_limit(
    db: Engine, project: Project
) -> None:
    """From a peer that is not a configured proxy, X-Forwarded-For is ignored: a new made-up
    address per attempt still counts against the one real address."""
    forged = [f"203.0.113.{i}" for i in range(4)]
    for trusted in ((), limits.parse_networks("10.9.0.0/16")):
        app = create_app(db, limits=Limits(requests_per_minute=1, burst=2, trusted_proxies=trusted))
        with TestClient(app, client=("198.51.100.7", 50000)) as client:
            statuses = _failed_log_ins(client, forged)
            assert 429 not in statuses[:2] and statuses[2:] == [429, 429], trusted


def test_a_configured_proxys_forwarded_for_names_the_client(db: Engine, project: Project) -> None:
    proxies = limits.parse_networks("10.9.0.2, 192.168.0.0/24")
    app = create_app(db, limits=Limits(requests_per_minute=1, burst=2, trusted_proxies=proxies))
    with TestClient(app, client=("10.9.0.2", 50000)) as client:
        # Two clients behind the proxy (one through a second trusted hop) each get their own
        # bucket; a value the client itself put in front of the chain is not believed.
        first = _failed_log_ins(client, ["198.51.100.1"] * 3)
        second = _failed_log_ins(
            client,
            [f"{fake}, 198.51.100.2, 192.168.0.9" for fake in ("1.1.1.1", "2.2.2.2", "3.3.3.3")],
        )
    for statuses in (first, second):  # 422: no CSRF field; what counts is when 429 comes
        assert 429 not in statuses[:2] and statuses[2] == 429, statuses


def test_forwarded_client_reads_only_what_trusted_proxies_added() -> None:
    proxies = limits.parse_networks("10.0.0.0/8")
    assert limits.forwarded_client("10.0.0.1", "6.6.6.6, 7.7.7.7", proxies) == "7.7.7.7"
    assert limits.forwarded_client("10.0.0.1", "6.6.6.6, 10.0.0.3", proxies) == "6.6.6.6"
    assert limits.forwarded_client("8.8.8.8", "6.6.6.6", proxies) == "8.8.8.8"
    assert limits.forwarded_client("10.0.0.1", "junk", proxies) == "10.0.0.1"
    assert limits.forwarded_client("10.0.0.1", None, proxies) == "10.0.0.1"
    with pytest.raises(ValueError, match="'nonsense' is not an address or network"):
        limits.parse_networks("10.0.0.1, nonsense")


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


def test_after_a_burst_tokens_come_back_one_at_a_time() -> None:
    """A token bucket, not a window: once the burst is spent, one request is let through every
    60 / requests_per_minute seconds (a moving window of `burst` would refuse every request
    for the whole window, and Retry-After would say so)."""
    now = [0.0]
    limiter = limits.RateLimit(app=None, limits=Limits(requests_per_minute=60, burst=5))  # type: ignore[arg-type]
    limiter.clock = lambda: now[0]
    assert [limiter._take("address:a") for _ in range(5)] == [0.0] * 5
    assert limiter._take("address:a") == pytest.approx(1.0)  # Retry-After: 1
    for _ in range(3):
        now[0] += 1.0
        assert limiter._take("address:a") == 0.0
        assert limiter._take("address:a") > 0
    now[0] += 4.0  # idle time refills the bucket (up to the burst)
    assert [limiter._take("address:a") for _ in range(4)] == [0.0, 0.0, 0.0, 0.0]
    assert limiter._take("address:a") > 0
