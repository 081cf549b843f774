"""Shared fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL.

Migrations run once per backend per session into a template (a SQLite file, a PostgreSQL
template database); each test gets its own copy, so tests never clean up after each other and
every test sees the schema the migrations really create.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from segmint import auth
from segmint.clock import FrozenClock
from segmint.projects import Project, create_project
from segmint.store import migrate
from segmint.store.db import create_engine, normalise_url
from tests import sql_scope

BACKENDS = ["sqlite", "postgres"]
# Tests send bursts no user would: apps they create have no rate limit unless a test asks for
# one (tests/api/test_limits.py passes its own Limits).
os.environ.setdefault("SEGMINT_RATE_LIMIT", "0")
# The local receivers listen on 127.0.0.1; tests/test_outbound.py takes this away again.
os.environ.setdefault("SEGMINT_ALLOW_PRIVATE_WEBHOOKS", "1")
sql_scope.install()


_worker_problems: list[str] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if Segmint sent any unscoped statement to a tenant table (sql_scope.py).

    Under pytest-xdist each worker process watches its own statements: a worker hands what it
    found to the controller (`workeroutput`), which fails the run for all of them."""
    problem = sql_scope.report()
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:
        worker_output["sql_scope"] = problem
        return
    problems = [p for p in [problem, *_worker_problems] if p is not None]
    if problems:
        print("\n" + "\n".join(problems), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """pytest-xdist: a worker has finished; keep its unscoped statements for the verdict."""
    problem = getattr(node, "workeroutput", {}).get("sql_scope")
    if problem:
        _worker_problems.append(problem)


_counter = itertools.count()


def _postgres_admin_url(tmp_root: Path) -> URL:
    """The server named by SEGMINT_TEST_DATABASE_URL, else a throwaway one from pgserver."""
    url = os.environ.get("SEGMINT_TEST_DATABASE_URL")
    if url:
        return normalise_url(url)
    import pgserver

    server = pgserver.get_server(tmp_root / "pgdata", cleanup_mode="stop")
    return normalise_url(server.get_uri())


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="segmint-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class PostgresTemplates:
    """Creates per-test databases as copies of one migrated template database."""

    def __init__(self, admin_url: URL) -> None:
        self.admin_url = admin_url
        self.prefix = f"segmint_t{os.getpid()}"
        self.template = f"{self.prefix}_template"
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        self._execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self._execute(f'CREATE DATABASE "{self.template}"')
        engine = create_engine(self.url(self.template), poolclass=sa.NullPool)
        migrate.upgrade(engine)
        engine.dispose()

    def _execute(self, statement: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(statement))

    def url(self, database: str) -> URL:
        return self.admin_url.set(database=database)

    def create(self) -> str:
        name = f"{self.prefix}_{next(_counter)}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self.drop(self.template)
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_templates(tmp_root: Path) -> Iterator[PostgresTemplates]:
    templates = PostgresTemplates(_postgres_admin_url(tmp_root))
    yield templates
    templates.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_root: Path) -> Path:
    path = tmp_root / "template.db"
    engine = create_engine(f"sqlite:///{path}", poolclass=sa.NullPool)
    migrate.upgrade(engine)
    with engine.connect() as conn:  # fold the WAL into the file so a plain copy is complete
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, migrated database of the parametrised backend."""
    if request.param == "sqlite":
        path = tmp_path / "segmint.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    templates: PostgresTemplates = request.getfixturevalue("postgres_templates")
    name = templates.create()
    yield templates.url(name).render_as_string(hide_password=False)
    templates.drop(name)


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = create_engine(db_url, poolclass=sa.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    from datetime import UTC, datetime

    return FrozenClock(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def project(db: Engine) -> Project:
    """An organization with an owner and a `default` project."""
    with db.begin() as conn:
        org_id = auth.create_organization(conn, "Acme")
        auth.create_user(conn, org_id, "owner@acme.test", "owner")
        return create_project(conn, org_id, "default")


@pytest.fixture(params=["index", "sql"])
def index_mode(
    request: pytest.FixtureRequest, db: Engine, project: Project, caplog: pytest.LogCaptureFixture
) -> Iterator[str]:
    """The test once with the columnar index attached to `db` (built in the asking thread on
    first need) and once without (SQL answers). With the index, the test must have used it:
    the project's index is ready at the end and no answer fell back to SQL after a failure."""
    from segmint import index

    if request.param == "sql":
        yield "sql"
        return
    index.attach(db, index.Settings(background=False))
    try:
        yield "index"
        indexes = index.indexes_for(db)
        assert indexes is not None
        state = indexes.status()["projects"].get(str(project.id), {}).get("state")
        assert state == "ready", f"the index was never asked, or is {state}"
        failures = [
            r for r in caplog.records if r.name == "segmint.index" and r.levelname == "ERROR"
        ]
        assert not failures, [r.getMessage() for r in failures]
    finally:
        index.detach(db)
