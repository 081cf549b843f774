"""Campaign fixtures: a project with leads and segments, mail settings pointing at a real local
SMTP server, and helpers to make campaigns and run them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.campaigns import definitions, mail_settings, runs
from segmint.campaigns.sender import Sender
from segmint.clock import FrozenClock
from segmint.engine import segments as segments_engine
from segmint.engine.events import NewEvent, record_events
from segmint.ingest.leads import upsert_leads
from segmint.model import Role
from segmint.projects import Project
from segmint.store.tables import campaign_recipients, users
from tests.smtp import SmtpServer

PUBLIC_URL = "http://segmint.test"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def owner(db: Engine, project: Project) -> Principal:
    with db.connect() as conn:
        user = conn.execute(sa.select(users).where(users.c.email == "owner@acme.test")).one()
    return Principal(user.id, user.organization_id, user.email, Role.OWNER, None)


def configure_mail(
    db: Engine, project: Project, port: int, clock: FrozenClock, **extra: Any
) -> None:
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_email": "news@acme.test",
        "from_name": "Acme",
        "rate_per_minute": 100_000,
        "public_url": PUBLIC_URL,
        **extra,
    }
    with db.begin() as conn:
        mail_settings.update(conn, project, settings, clock.now())


def add_leads(
    db: Engine, project: Project, clock: FrozenClock, records: list[dict[str, Any]]
) -> dict[str, int]:
    """Leads by email (or by first name for those without); returns their ids."""
    report = upsert_leads(db, project, list(enumerate(records, start=1)), clock=clock)
    assert not report.errors, report.errors
    from segmint.store.tables import leads

    with db.connect() as conn:
        rows = conn.execute(sa.select(leads).where(leads.c.project_id == project.id))
        return {r.email or r.first_name: r.id for r in rows}


def add_segment(
    db: Engine, project: Project, owner: Principal, name: str, filter_: Any, clock: FrozenClock
) -> int:
    with db.begin() as conn:
        row = segments_engine.create_segment(
            conn, project, owner, {"name": name, "filter": filter_}, clock
        )
    return int(row.id)


def add_campaign(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, **fields: Any
) -> int:
    data = {
        "name": "Welcome",
        "subject": "Hi {{ lead.first_name | default('there') }}",
        "body": "Hello {{ lead.first_name }}!\n\n"
        'Read <a href="https://acme.test/blog">the blog</a>.',
        **fields,
    }
    with db.begin() as conn:
        return definitions.create_campaign(conn, project, data, owner.user_id, clock.now())


def run_now(db: Engine, project: Project, campaign_id: int, clock: FrozenClock) -> int:
    with db.begin() as conn:
        return runs.create_run(conn, project, campaign_id, clock.now())


def sender(db: Engine, clock: FrozenClock, **options: Any) -> Sender:
    options = {
        "retry_base": timedelta(seconds=30),
        "backoff_base": timedelta(seconds=10),
        **options,
    }
    return Sender(db, clock, **options)


def summary(db: Engine, project: Project, campaign_id: int, run_id: int) -> dict[str, Any]:
    with db.connect() as conn:
        return runs.get_run(conn, project, campaign_id, run_id)


def recipient_states(db: Engine, project: Project, run_id: int) -> dict[str | None, str]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(campaign_recipients.c.email, campaign_recipients.c.state).where(
                campaign_recipients.c.project_id == project.id,
                campaign_recipients.c.run_id == run_id,
            )
        )
        return {r.email: r.state for r in rows}


def unsubscribe_lead(db: Engine, project: Project, lead_id: int, clock: FrozenClock) -> None:
    with db.begin() as conn:
        record_events(
            conn, project, [NewEvent(lead_id, "unsubscribed", clock.now(), {})], clock.now()
        )
