"""The connection pool under load, on both databases: a request holds one connection (its
authentication included), the pool is sized from configuration, and a request that cannot get
a connection in time is answered with a JSON 503 and Retry-After, not a 500."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.app import create_app
from segmint.index import Settings as IndexSettings
from segmint.projects import Project
from segmint.store.db import create_engine
from segmint.store.tables import users
from tests.api.conftest import BASE, Api, error_of


@dataclass
class Checkouts:
    """How many connections the pool handed out, and the most held at once."""

    total: int = 0
    held: int = 0
    peak: int = 0

    def watch(self, engine: Engine) -> None:
        sa.event.listen(engine, "checkout", self._out)
        sa.event.listen(engine, "checkin", self._in)

    def _out(self, *_args: object) -> None:
        self.total += 1
        self.held += 1
        self.peak = max(self.peak, self.held)

    def _in(self, *_args: object) -> None:
        self.held -= 1

    def reset(self) -> None:
        self.total = self.peak = 0


@pytest.fixture
def pooled(db_url: str) -> Iterator[Engine]:
    """The app's engine as `segmint serve` makes it: pooled, not NullPool."""
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


def _session_cookie(db: Engine) -> str:
    with db.begin() as conn:
        owner = conn.execute(sa.select(users.c.id).where(users.c.email == "owner@acme.test"))
        return auth.start_session(conn, owner.scalar_one())


def test_a_request_holds_one_connection(
    api: Api, db: Engine, pooled: Engine, project: Project
) -> None:
    bearer = {"Authorization": f"Bearer {api.tokens['owner']}"}
    session = _session_cookie(db)
    # The index is built when first asked, not in the background: a background build's
    # connections would be counted against the requests measured here.
    with TestClient(create_app(pooled, index=IndexSettings(background=False))) as client:
        created = client.post(
            f"{BASE}/segments",
            json={"name": "Acme", "filter": {"field": "company", "op": "eq", "value": "Acme"}},
            headers=bearer,
        )
        assert created.status_code == 201, created.text
        segment = created.json()["id"]
        checkouts = Checkouts()
        checkouts.watch(pooled)
        nobody = {"field": "company", "op": "eq", "value": "x"}
        requests = [
            ("GET", f"{BASE}/segments/{segment}/count", None),
            ("GET", f"{BASE}/segments/{segment}/members", None),
            ("POST", f"{BASE}/segments/preview", {"filter": nobody}),
            ("POST", f"{BASE}/leads", {"email": "one@x.test", "company": "Acme"}),
            ("POST", f"{BASE}/leads/bulk", {"leads": [{"email": "two@x.test"}, {"email": "bad"}]}),
            ("POST", f"{BASE}/events", {"events": [{"email": "one@x.test", "type": "visit"}]}),
        ]
        for method, path, body in requests:
            checkouts.reset()
            answer = client.request(method, path, json=body, headers=bearer)
            assert answer.status_code in (200, 201), (path, answer.text)
            assert (checkouts.total, checkouts.peak) == (1, 1), path
        # A browser's session cookie is authenticated on the request's connection too.
        checkouts.reset()
        client.cookies.set(auth.SESSION_COOKIE, session)
        answer = client.get(f"{BASE}/segments/{segment}/count")
        assert answer.status_code == 200, answer.text
        assert (checkouts.total, checkouts.peak) == (1, 1)


def test_a_request_that_cannot_get_a_connection_is_answered_503(
    api: Api, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGMINT_DB_POOL_SIZE", "1")
    monkeypatch.setenv("SEGMINT_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("SEGMINT_DB_POOL_TIMEOUT", "0.5")
    engine = create_engine(db_url)
    bearer = {"Authorization": f"Bearer {api.tokens['owner']}"}
    try:
        assert engine.pool.size() == 1  # type: ignore[attr-defined]
        with TestClient(create_app(engine)) as client:
            with engine.connect():  # the pool's one connection, held by someone else
                busy = client.get(f"{BASE}/segments", headers=bearer)
            assert busy.status_code == 503, busy.text
            assert busy.headers["retry-after"] == "2"
            error = error_of(busy)
            assert error["code"] == "busy"
            assert "retry in 2 s" in error["message"]
            # The connection is back: the next request is served.
            assert client.get(f"{BASE}/segments", headers=bearer).status_code == 200
    finally:
        engine.dispose()


def test_a_bad_pool_setting_names_the_variable(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGMINT_DB_POOL_SIZE", "lots")
    with pytest.raises(ValueError, match="SEGMINT_DB_POOL_SIZE='lots': expected a number"):
        create_engine(db_url)
    monkeypatch.setenv("SEGMINT_DB_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="SEGMINT_DB_POOL_SIZE='0': must be at least 1"):
        create_engine(db_url)
