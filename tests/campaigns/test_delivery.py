"""Delivery to a real SMTP server and a real HTTP receiver: rendering, refusals, retries with
backoff, a server down for a while, pacing, the webhook channel's signed batches, and tracking
events that segments can use."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.campaigns import definitions, mail_settings, runs
from segmint.clock import FrozenClock
from segmint.engine import filtering
from segmint.engine import segments as segments_engine
from segmint.outbound import ALLOW_PRIVATE_ENV
from segmint.projects import Project
from segmint.signing import verify
from segmint.store.tables import campaign_recipients
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
from tests.receiver import Receiver
from tests.smtp import SmtpServer, self_signed_tls

LEADS = [
    {"email": f"lead{i}@x.test", "first_name": f"Lead{i}", "status": "new", "company": "Initech"}
    for i in range(6)
]
NEW = {"field": "status", "op": "eq", "value": "new"}


@pytest.fixture
def campaign(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, smtp: SmtpServer
) -> int:
    configure_mail(db, project, smtp.port, clock)
    add_leads(db, project, clock, LEADS)
    segment = add_segment(db, project, owner, "New", NEW, clock)
    return add_campaign(db, project, owner, clock, targeting={"include_segments": [segment]})


def test_messages_are_rendered_per_lead_with_headers(
    db: Engine, project: Project, clock: FrozenClock, campaign: int, smtp: SmtpServer
) -> None:
    run_now(db, project, campaign, clock)
    sender(db, clock).drain()
    mail = smtp.inbox.to("lead3@x.test")[0]
    assert mail["Subject"] == "Hi Lead3"
    assert mail["From"] == "Acme <news@acme.test>"
    assert mail["Message-ID"].startswith(f"<campaign-{campaign}.recipient-")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mail.get_body(("plain",)).get_content()
    assert "Hello Lead3!" in text and "Unsubscribe (http://segmint.test/t/" in text
    html = mail.get_body(("html",)).get_content()
    assert "<p>Hello Lead3!</p>" in html and "/click?url=https%3A%2F%2Facme.test%2Fblog" in html


def test_a_recipient_over_the_render_limits_fails_alone_and_empty_fields_print_nothing(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, smtp: SmtpServer
) -> None:
    configure_mail(db, project, smtp.port, clock)
    leads = [
        {"email": "big@x.test", "first_name": "Big", "status": "new"},
        {"email": "ann@x.test", "first_name": "Ann", "status": "new"},
        {"email": "anon@x.test", "status": "new"},  # no first name
    ]
    add_leads(db, project, clock, leads)
    segment = add_segment(db, project, owner, "New", NEW, clock)
    huge = "{% for a in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"
    body = f"{{% if lead.first_name == 'Big' %}}{huge}{{% endif %}}Hello {{{{ lead.first_name }}}}!"
    campaign = add_campaign(
        db, project, owner, clock, targeting={"include_segments": [segment]}, body=body
    )
    run = run_now(db, project, campaign, clock)
    sender(db, clock).drain()
    states = recipient_states(db, project, run)
    assert states == {"big@x.test": "failed", "ann@x.test": "sent", "anon@x.test": "sent"}
    with db.connect() as conn:
        failed = runs.recipients_of(conn, project, run, "failed", None, 10)
    assert [x.email for x in failed] == ["big@x.test"]
    assert failed[0].last_error == (
        "template: body: the rendered body is over 1,000,000 characters, the limit for one message"
    )
    assert summary(db, project, campaign, run)["state"] == "done"
    anon = smtp.inbox.to("anon@x.test")[0]
    assert anon["Subject"] == "Hi there"  # `default` replaces an empty field
    assert anon.get_body(("plain",)).get_content().startswith("Hello !\r\n")  # not "Hello None!"


def test_refusals_fail_with_the_reason_and_4xx_retries_with_backoff(
    db: Engine, project: Project, clock: FrozenClock, campaign: int, smtp: SmtpServer
) -> None:
    smtp.inbox.rejected.add("lead1@x.test")
    smtp.inbox.temporary_failures = 2  # the first two messages are deferred
    run = run_now(db, project, campaign, clock)
    sender(db, clock).drain()
    states = recipient_states(db, project, run)
    assert states["lead1@x.test"] == "failed"
    assert list(states.values()).count("queued") == 2
    assert summary(db, project, campaign, run)["state"] == "sending"
    clock.advance(timedelta(seconds=31))  # retry_base 30 s
    sender(db, clock).drain()
    states = recipient_states(db, project, run)
    assert list(states.values()).count("sent") == 5
    done = summary(db, project, campaign, run)
    assert (done["state"], done["sent"], done["failed"]) == ("done", 5, 1)
    assert sorted(smtp.inbox.addresses()) == sorted(
        lead["email"] for lead in LEADS if lead["email"] != "lead1@x.test"
    )
    with db.connect() as conn:
        failed = runs.recipients_of(conn, project, run, "failed", None, 10)
    assert failed[0].last_error.startswith("SMTP 550 5.1.1 no such user")


def test_a_server_down_for_a_while_gets_everything_later_once(
    db: Engine, project: Project, clock: FrozenClock, campaign: int, smtp: SmtpServer
) -> None:
    smtp.stop()
    run = run_now(db, project, campaign, clock)
    deliver = sender(db, clock)
    for _ in range(4):  # down: the run backs off 10, 20, 40, 80 s; no recipient spends attempts
        deliver.drain()
        clock.advance(timedelta(minutes=2))
    stalled = summary(db, project, campaign, run)
    assert stalled["state"] == "sending" and stalled["consecutive_failures"] == 4
    assert "cannot use SMTP server" in stalled["error"]
    smtp.start()
    deliver.drain()
    assert sorted(smtp.inbox.addresses()) == sorted(lead["email"] for lead in LEADS)
    done = summary(db, project, campaign, run)
    assert (done["state"], done["sent"], done["error"]) == ("done", 6, None)


def test_sending_is_paced_to_the_rate(
    db: Engine, project: Project, clock: FrozenClock, campaign: int, smtp: SmtpServer
) -> None:
    with db.begin() as conn:
        mail_settings.update(conn, project, {"rate_per_minute": 120}, clock.now())
    waits: list[float] = []
    now = [1000.0]

    def sleep(seconds: float) -> None:  # a clock for the pacing: each wait moves it on
        waits.append(seconds)
        now[0] += seconds

    run_now(db, project, campaign, clock)
    sender(db, clock, sleep=sleep, monotonic=lambda: now[0]).drain()
    assert len(smtp.inbox.messages) == 6
    assert waits == [pytest.approx(0.5)] * 5  # 120 a minute: one every half second


def _webhook_campaign(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, url: str
) -> int:
    """The LEADS, a segment of the new ones, and a webhook campaign to it posting to `url`."""
    add_leads(db, project, clock, LEADS)
    segment = add_segment(db, project, owner, "New", NEW, clock)
    targeting = {"include_segments": [segment]}
    return add_campaign(
        db, project, owner, clock, channel="webhook", webhook_url=url, targeting=targeting
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def test_the_webhook_channel_posts_signed_batches(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    receiver: Receiver,
) -> None:
    campaign = _webhook_campaign(db, project, owner, clock, receiver.url)
    receiver.fail_with(503, times=1)
    run = run_now(db, project, campaign, clock)
    sender(db, clock).drain()
    assert receiver.received == []
    clock.advance(timedelta(seconds=11))
    sender(db, clock).drain()
    [delivery] = receiver.received
    with db.connect() as conn:
        from segmint.campaigns.definitions import get_campaign

        secret = get_campaign(conn, project, campaign).webhook_secret
    assert verify(secret, delivery.body, delivery.headers["X-Segmint-Signature"])
    payload = delivery.payload
    assert payload["campaign"]["id"] == campaign and payload["run_id"] == run
    assert sorted(r["lead"]["email"] for r in payload["recipients"]) == sorted(
        lead["email"] for lead in LEADS
    )
    assert all(r["idempotency_key"] == f"rcpt_{r['recipient_id']}" for r in payload["recipients"])
    assert summary(db, project, campaign, run)["sent"] == 6


def _recipient_errors(db: Engine, project: Project, run: int) -> set[str | None]:
    query = sa.select(campaign_recipients.c.last_error).where(
        campaign_recipients.c.project_id == project.id, campaign_recipients.c.run_id == run
    )
    with db.connect() as conn:
        return set(conn.execute(query).scalars())


def test_a_campaign_webhook_saved_while_allowed_does_not_reach_inside_once_refused(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign = _webhook_campaign(
        db, project, owner, clock, f"http://localhost:{receiver.port}/hook"
    )
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    run = run_now(db, project, campaign, clock)
    sender(db, clock).drain()
    assert receiver.received == []
    refusal = "webhook: ConnectError: localhost resolves to 127.0.0.1, a loopback address"
    assert summary(db, project, campaign, run)["error"].startswith(refusal)
    assert recipient_states(db, project, run) == {lead["email"]: "queued" for lead in LEADS}

    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")  # the operator allows it: all goes out
    clock.advance(timedelta(seconds=11))
    sender(db, clock).drain()
    assert len(receiver.received) == 1
    assert summary(db, project, campaign, run)["sent"] == 6


def test_a_refused_campaign_webhook_records_the_status_and_never_the_body(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    receiver: Receiver,
) -> None:
    campaign = _webhook_campaign(db, project, owner, clock, receiver.url)
    receiver.fail_with(500, times=1, body=b"<h1>Internal admin</h1> token=abc123")
    run = run_now(db, project, campaign, clock)
    sender(db, clock).drain()
    assert summary(db, project, campaign, run)["error"] == "webhook: HTTP 500"
    assert _recipient_errors(db, project, run) == {"webhook: HTTP 500"}


def test_segments_can_use_campaign_events(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    campaign: int,
    smtp: SmtpServer,
) -> None:
    run_now(db, project, campaign, clock)
    sender(db, clock).drain()
    sent_to_this = {
        "event": "email_sent",
        "where": {"field": "campaign_id", "op": "eq", "value": campaign},
    }
    with db.connect() as conn:
        tree = filtering.validate(conn, project, sent_to_this, reader=None)
        where = filtering.condition(conn, project, tree, clock.now())
        assert segments_engine.count_where(conn, project, where) == 6


def test_starttls_and_credentials_from_the_settings(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context, certificate = self_signed_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # trust the test server's certificate
    server = SmtpServer(tls=context, credentials=("mailer", "s3cret-pass")).start()
    try:
        configure_mail(db, project, server.port, clock, security="starttls", username="mailer")
        with db.begin() as conn:
            mail_settings.update(conn, project, {"password": "wrong"}, clock.now())
        add_leads(db, project, clock, LEADS[:2])
        segment = add_segment(db, project, owner, "New", NEW, clock)
        campaign = add_campaign(
            db, project, owner, clock, targeting={"include_segments": [segment]}
        )
        run = run_now(db, project, campaign, clock)
        sender(db, clock, smtp_timeout=2.0).drain()  # a refused login: the run backs off
        refused = summary(db, project, campaign, run)
        assert "cannot use SMTP server" in refused["error"] and refused["sent"] == 0
        with db.begin() as conn:
            mail_settings.update(conn, project, {"password": "s3cret-pass"}, clock.now())
        clock.advance(timedelta(minutes=1))
        sender(db, clock).drain()
        assert summary(db, project, campaign, run)["sent"] == 2
        assert server.logins and set(server.logins) == {"mailer"}
        assert len(server.inbox.messages) == 2
    finally:
        server.stop()


def test_pausing_a_campaign_stops_its_run_until_resumed(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    campaign: int,
    smtp: SmtpServer,
) -> None:
    run = run_now(db, project, campaign, clock)
    deliver = sender(db, clock, chunk=2)
    deliver.run_once()  # freezes the run
    deliver.run_once()  # sends a first chunk of two
    principal = owner
    with db.begin() as conn:
        definitions.update_campaign(
            conn, project, principal, campaign, {"state": "paused"}, clock.now()
        )
    assert deliver.drain() == 0
    assert len(smtp.inbox.messages) == 2 and summary(db, project, campaign, run)["queued"] == 4
    with db.begin() as conn:
        definitions.update_campaign(
            conn, project, principal, campaign, {"state": "draft"}, clock.now()
        )
    deliver.drain()
    assert len(smtp.inbox.messages) == 6 and summary(db, project, campaign, run)["state"] == "done"
