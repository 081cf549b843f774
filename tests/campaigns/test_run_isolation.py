"""One tenant's broken run never holds up another's: an unexpected error fails that run alone,
backed off and then given up with its reason; addresses a server cannot take fail only their
recipient. On both databases, against a real SMTP server."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.auth import Principal
from segmint.clock import FrozenClock
from segmint.model import Role
from segmint.projects import Project, create_project
from segmint.store.tables import campaign_recipients, mail_settings
from segmint.worker.loop import send_campaigns_forever
from tests.campaigns.conftest import (
    add_campaign,
    add_leads,
    add_segment,
    configure_mail,
    recipient_states,
    run_now,
    sender,
    summary,
)
from tests.processes import wait_until
from tests.smtp import SmtpServer

NEW = {"field": "status", "op": "eq", "value": "new"}


@dataclass(frozen=True)
class Tenant:
    project: Project
    campaign: int
    run: int


def _tenant(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    emails: list[str],
) -> Tenant:
    """A project with mail settings, these leads (status new) and a run of a campaign to all."""
    configure_mail(db, project, smtp.port, clock)
    add_leads(
        db, project, clock, [{"email": e, "first_name": "Ann", "status": "new"} for e in emails]
    )
    segment = add_segment(db, project, owner, "New", NEW, clock)
    campaign = add_campaign(db, project, owner, clock, targeting={"include_segments": [segment]})
    return Tenant(project, campaign, run_now(db, project, campaign, clock))


def _other_organization(db: Engine) -> tuple[Project, Principal]:
    with db.begin() as conn:
        org_id = auth.create_organization(conn, "Globex")
        user_id = auth.create_user(conn, org_id, "owner@globex.test", "owner")
        project = create_project(conn, org_id, "default")
    return project, Principal(user_id, org_id, "owner@globex.test", Role.OWNER, None)


def _legacy_sender_name(db: Engine, project: Project, name: str) -> None:
    """A sender name stored before mail settings refused line breaks (no API writes one now)."""
    with db.begin() as conn:
        conn.execute(
            mail_settings.update()
            .where(mail_settings.c.project_id == project.id)
            .values(from_name=name)
        )


def _last_errors(db: Engine, tenant: Tenant) -> dict[str | None, str | None]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(campaign_recipients.c.email, campaign_recipients.c.last_error).where(
                campaign_recipients.c.project_id == tenant.project.id,
                campaign_recipients.c.run_id == tenant.run,
            )
        )
        return {r.email: r.last_error for r in rows}


def test_a_run_that_breaks_fails_alone_backs_off_then_gives_up(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, smtp: SmtpServer
) -> None:
    # The broken run is the older one, so it is the first any sender claims.
    broken = _tenant(db, project, owner, clock, smtp, ["ann@acme.test"])
    _legacy_sender_name(db, project, "Acme\r\nBcc: everyone@evil.test")
    other_project, other_owner = _other_organization(db)
    healthy = _tenant(db, other_project, other_owner, clock, smtp, ["bob@globex.test"])

    # The worker's own loop: before, the broken run was claimed again every second, forever.
    deliver = sender(db, clock)
    stop = threading.Event()
    loop = threading.Thread(target=send_campaigns_forever, args=(deliver, stop))
    loop.start()
    try:
        wait_until(
            lambda: summary(db, other_project, healthy.campaign, healthy.run)["state"] == "done",
            "the other tenant's run to be delivered",
        )
    finally:
        stop.set()
        loop.join(timeout=60)
    assert smtp.inbox.addresses() == ["bob@globex.test"]
    backed_off = summary(db, project, broken.campaign, broken.run)
    assert backed_off["state"] == "sending" and backed_off["consecutive_failures"] == 1
    assert backed_off["next_attempt_at"] == clock.now() + timedelta(seconds=10)
    assert "ValueError" in backed_off["error"] and "linefeed" in backed_off["error"]

    for wait in (10, 20, 40, 80):  # each retry when due, not before; the fifth failure ends it
        clock.advance(timedelta(seconds=wait - 1))
        deliver.drain()
        assert summary(db, project, broken.campaign, broken.run)["state"] == "sending"
        clock.advance(timedelta(seconds=1))
        deliver.drain()
    given_up = summary(db, project, broken.campaign, broken.run)
    assert given_up["state"] == "error" and given_up["consecutive_failures"] == 5
    assert given_up["finished_at"] == clock.now() and "linefeed" in given_up["error"]
    assert given_up["next_attempt_at"] is None
    assert recipient_states(db, project, broken.run) == {"ann@acme.test": "failed"}
    assert "linefeed" in (_last_errors(db, broken)["ann@acme.test"] or "")
    assert smtp.inbox.addresses() == ["bob@globex.test"]  # the broken run never sent a mail


@pytest.mark.parametrize("smtputf8", [False, True], ids=["ascii-server", "smtputf8-server"])
def test_non_ascii_addresses_go_out_over_smtputf8_or_fail_alone(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, smtputf8: bool
) -> None:
    smtp = SmtpServer(smtputf8=smtputf8).start()
    try:
        emails = ["jörg@acme.test", "ann@bücher.test", "bob@acme.test"]
        tenant = _tenant(db, project, owner, clock, smtp, emails)
        sender(db, clock).drain()
        states = recipient_states(db, project, tenant.run)
        errors = _last_errors(db, tenant)
        received = sorted(smtp.inbox.addresses())
    finally:
        smtp.stop()
    assert summary(db, project, tenant.campaign, tenant.run)["state"] == "done"
    if smtputf8:
        assert received == ["ann@bücher.test", "bob@acme.test", "jörg@acme.test"]
        assert set(states.values()) == {"sent"}
    else:
        # A non-ASCII domain has an ASCII form (IDNA); a non-ASCII mailbox name has none.
        assert received == ["ann@xn--bcher-kva.test", "bob@acme.test"]
        assert states == {
            "jörg@acme.test": "failed",
            "ann@bücher.test": "sent",
            "bob@acme.test": "sent",
        }
        assert errors["jörg@acme.test"] == (
            "the address has non-ASCII characters before the @ and the SMTP server does not "
            "offer SMTPUTF8"
        )
