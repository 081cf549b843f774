"""PostgreSQL restarted under a running worker and a serving app: both recover with no manual
step, and nothing is lost or done twice. A throwaway server of our own (pgserver) is stopped
and started, so the machine's PostgreSQL and the rest of the suite are untouched."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pgserver
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.app import create_app
from segmint.engine import segments as segments_engine
from segmint.engine import webhooks as webhooks_engine
from segmint.ingest import upsert_leads
from segmint.model import Role
from segmint.projects import Project, create_project
from segmint.store import migrate
from segmint.store.db import create_engine
from segmint.store.tables import membership_history
from tests.processes import Spawned, wait_until
from tests.receiver import Receiver


@pytest.fixture
def server(tmp_path: Path) -> Iterator[pgserver.PostgresServer]:
    instance = pgserver.get_server(tmp_path / "pgdata", cleanup_mode="stop")
    yield instance
    instance.cleanup()


def _restart(server: pgserver.PostgresServer) -> None:
    pgserver.pg_ctl(["-m", "fast", "-w", "stop"], pgdata=server.pgdata, user=server.system_user)
    server.ensure_postgres_running()


def _seed(engine: Engine, hook_url: str) -> Project:
    migrate.upgrade(engine)
    with engine.begin() as conn:
        org = auth.create_organization(conn, "Acme")
        owner = auth.create_user(conn, org, "owner@acme.test", "owner")
        project = create_project(conn, org, "default")
        principal = auth.Principal(owner, org, "owner@acme.test", Role.OWNER, None)
        new = {"field": "status", "op": "eq", "value": "new"}
        segments_engine.create_segment(conn, project, principal, {"name": "New", "filter": new})
        webhooks_engine.create_webhook(conn, project, {"url": hook_url}, None, datetime.now(UTC))
    return project


def _entered(engine: Engine) -> Counter[int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(membership_history.c.lead_id))
        return Counter(rows.scalars())


def test_worker_and_app_recover_from_a_postgres_restart(
    server: pgserver.PostgresServer, tmp_path: Path
) -> None:
    url = server.get_uri("postgres")
    engine = create_engine(url, poolclass=sa.NullPool)
    receiver = Receiver().start()
    workers = Spawned(tmp_path, url)
    served = create_engine(url)  # the app's, pooled as `segmint serve` runs it
    try:
        project = _seed(engine, receiver.url)
        workers.wait_started(workers.start("--lease", "1"))
        upsert_leads(
            engine,
            project,
            enumerate([{"email": f"a{i}@x.test", "status": "new"} for i in range(5)]),
        )
        wait_until(lambda: sum(_entered(engine).values()) == 5, "the first leads to enter")
        with TestClient(create_app(served)) as client:
            with engine.begin() as conn:
                token = auth.issue_token(conn, 1)
            headers = {"Authorization": f"Bearer {token}"}
            assert (
                client.get("/api/v1/projects/default/segments", headers=headers).status_code == 200
            )
            _restart(server)  # the pooled connections of the app and the worker are now dead
            answer = client.get("/api/v1/projects/default/segments", headers=headers)
            assert answer.status_code == 200, answer.text  # pool_pre_ping replaced them
        upsert_leads(
            engine,
            project,
            enumerate([{"email": f"b{i}@x.test", "status": "new"} for i in range(5)]),
        )
        wait_until(lambda: sum(_entered(engine).values()) == 10, "the worker to carry on")
        entered = _entered(engine)
        assert set(entered.values()) == {1}  # each lead entered once: nothing done twice
        wait_until(
            lambda: sum(len(r.payload["changes"]) for r in receiver.received) >= 10, "webhooks"
        )
        delivered = Counter(c["id"] for r in receiver.received for c in r.payload["changes"])
        assert len(delivered) == 10
    finally:
        workers.close()
        receiver.stop()
        engine.dispose()
        served.dispose()  # its pooled connections: closed here, not by the collector
