"""Entry- and exit-triggered campaigns on both databases, sent to a real SMTP server: exactly
one send per entry (two workers, a worker killed mid-decision), the delay and the check at due
time, exits, the frequency cap, unsubscribes, and the triggered runs beside the others."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.campaigns import definitions, runs, triggers
from segmint.campaigns.sender import run_campaigns_due
from segmint.clock import FrozenClock
from segmint.engine import segments as segments_engine
from segmint.errors import InvalidInput
from segmint.ingest.leads import upsert_leads
from segmint.projects import Project
from segmint.store.tables import campaign_recipients, campaign_trigger_sends
from segmint.worker.loop import Worker
from tests.campaigns.conftest import (
    add_campaign,
    add_segment,
    configure_mail,
    sender,
    unsubscribe_lead,
)
from tests.smtp import SmtpServer

NEW = {"field": "status", "op": "eq", "value": "new"}


@pytest.fixture
def segment(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, smtp: SmtpServer
) -> int:
    configure_mail(db, project, smtp.port, clock)
    set_status(db, project, clock, ["ann", "bob", "cy"], "lost")
    return add_segment(db, project, owner, "New", NEW, clock)


def set_status(
    db: Engine, project: Project, clock: FrozenClock, names: list[str], status: str
) -> dict[str, int]:
    """Write the leads' status and let the worker maintain memberships (entries, exits)."""
    rows = [{"email": f"{n}@x.test", "first_name": n.title(), "status": status} for n in names]
    report = upsert_leads(db, project, list(enumerate(rows, start=1)), clock=clock)
    assert not report.errors
    Worker(db, clock).drain()
    return {}


def triggered(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, segment: int, **trigger: Any
) -> int:
    spec = {"on": "enter", "segment_id": segment, **trigger}
    return add_campaign(db, project, owner, clock, trigger=spec, state="scheduled")


def deliver(db: Engine, clock: FrozenClock) -> None:
    run_campaigns_due(db, clock)


def sends(db: Engine, campaign: int) -> list[tuple[str, str | None]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(campaign_trigger_sends.c.state, campaign_trigger_sends.c.skip_reason)
            .where(campaign_trigger_sends.c.campaign_id == campaign)
            .order_by(campaign_trigger_sends.c.id)
        )
        return [(r.state, r.skip_reason) for r in rows]


def mails_to(smtp: SmtpServer, name: str) -> int:
    return len(smtp.inbox.to(f"{name}@x.test"))


def test_an_entry_sends_once_and_shows_as_a_triggered_run(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    segment: int,
) -> None:
    campaign = triggered(db, project, owner, clock, segment)
    set_status(db, project, clock, ["ann"], "new")
    deliver(db, clock)
    deliver(db, clock)  # nothing is sent twice
    assert mails_to(smtp, "ann") == 1 and mails_to(smtp, "bob") == 0
    assert smtp.inbox.to("ann@x.test")[0]["Subject"] == "Hi Ann"
    with db.connect() as conn:
        listed = runs.runs_of(conn, project, campaign, None, 10)
    assert [(r["kind"], r["state"], r["sent"], r["audience"]) for r in listed] == [
        ("trigger", "done", 1, 1)
    ]
    # Leaving and entering again is a new entry: a second message.
    set_status(db, project, clock, ["ann"], "lost")
    clock.advance(timedelta(minutes=1))
    set_status(db, project, clock, ["ann"], "new")
    deliver(db, clock)
    assert mails_to(smtp, "ann") == 2
    assert sends(db, campaign) == [("queued", None), ("queued", None)]


def test_members_before_the_trigger_existed_are_not_sent(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    segment: int,
) -> None:
    set_status(db, project, clock, ["ann"], "new")
    triggered(db, project, owner, clock, segment)
    deliver(db, clock)
    assert smtp.inbox.addresses() == []


def test_a_delayed_send_goes_only_to_leads_still_in_the_segment(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    segment: int,
) -> None:
    campaign = triggered(db, project, owner, clock, segment, delay_minutes=60)
    set_status(db, project, clock, ["ann", "bob"], "new")
    deliver(db, clock)
    assert smtp.inbox.addresses() == []  # not yet due
    clock.advance(timedelta(minutes=30))
    set_status(db, project, clock, ["bob"], "lost")
    clock.advance(timedelta(minutes=31))
    deliver(db, clock)
    assert (mails_to(smtp, "ann"), mails_to(smtp, "bob")) == (1, 0)
    assert sorted(sends(db, campaign)) == [("queued", None), ("skipped", "membership")]
    with db.connect() as conn:
        run = runs.runs_of(conn, project, campaign, None, 10)[0]
    assert (run["audience"], run["sent"], run["skipped_membership"]) == (2, 1, 1)


def test_without_the_membership_check_a_lead_that_left_is_sent_too(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    segment: int,
) -> None:
    triggered(db, project, owner, clock, segment, delay_minutes=10, only_if_still_member=False)
    set_status(db, project, clock, ["bob"], "new")
    set_status(db, project, clock, ["bob"], "lost")
    clock.advance(timedelta(minutes=11))
    deliver(db, clock)
    assert mails_to(smtp, "bob") == 1


def test_an_exit_trigger_sends_when_a_lead_leaves(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    segment: int,
) -> None:
    set_status(db, project, clock, ["ann", "bob"], "new")
    campaign = triggered(db, project, owner, clock, segment, on="exit")
    set_status(db, project, clock, ["cy"], "new")  # an entry: not listened to
    set_status(db, project, clock, ["ann"], "lost")
    deliver(db, clock)
    assert (mails_to(smtp, "ann"), mails_to(smtp, "bob"), mails_to(smtp, "cy")) == (1, 0, 0)
    assert sends(db, campaign) == [("queued", None)]


def test_the_cap_limits_sends_per_lead_per_days(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    segment: int,
) -> None:
    campaign = triggered(db, project, owner, clock, segment, cap={"max": 1, "per_days": 7})
    for _ in range(2):  # two entries in a day: the second is over the cap
        set_status(db, project, clock, ["ann"], "new")
        deliver(db, clock)
        set_status(db, project, clock, ["ann"], "lost")
        clock.advance(timedelta(hours=1))
    assert mails_to(smtp, "ann") == 1
    assert sends(db, campaign) == [("queued", None), ("skipped", "capped")]
    clock.advance(timedelta(days=7))
    set_status(db, project, clock, ["ann"], "new")
    deliver(db, clock)
    assert mails_to(smtp, "ann") == 2


def test_unsubscribed_leads_are_skipped(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    segment: int,
) -> None:
    campaign = triggered(db, project, owner, clock, segment, delay_minutes=5)
    set_status(db, project, clock, ["ann", "bob"], "new")
    with db.connect() as conn:
        ids = dict(
            conn.execute(
                sa.text("select email, id from leads where project_id = :p"), {"p": project.id}
            ).all()
        )
    unsubscribe_lead(db, project, ids["ann@x.test"], clock)
    clock.advance(timedelta(minutes=6))
    deliver(db, clock)
    assert (mails_to(smtp, "ann"), mails_to(smtp, "bob")) == (0, 1)
    assert sorted(sends(db, campaign)) == [("queued", None), ("skipped", "unsubscribed")]


def test_a_paused_campaign_keeps_its_sends_until_resumed(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    segment: int,
) -> None:
    campaign = triggered(db, project, owner, clock, segment)
    with db.begin() as conn:
        definitions.update_campaign(
            conn, project, owner, campaign, {"state": "paused"}, clock.now()
        )
    set_status(db, project, clock, ["ann"], "new")
    deliver(db, clock)
    assert smtp.inbox.addresses() == [] and sends(db, campaign) == [("pending", None)]
    with db.begin() as conn:
        definitions.update_campaign(
            conn, project, owner, campaign, {"state": "scheduled"}, clock.now()
        )
    deliver(db, clock)
    assert mails_to(smtp, "ann") == 1
    # Back to draft, or the trigger removed: sends still waiting are dropped.
    with db.begin() as conn:
        definitions.update_campaign(
            conn, project, owner, campaign, {"trigger": {"on": "enter", "segment_id": segment,
            "delay_minutes": 5}}, clock.now()
        )  # fmt: skip
    set_status(db, project, clock, ["bob"], "new")
    assert sends(db, campaign)[-1] == ("pending", None)
    with db.begin() as conn:
        definitions.update_campaign(conn, project, owner, campaign, {"state": "draft"}, clock.now())
    assert ("pending", None) not in sends(db, campaign)


def test_two_workers_send_each_entry_exactly_once(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    segment: int,
) -> None:
    campaign = triggered(db, project, owner, clock, segment)
    names = [f"lead{i}" for i in range(40)]
    set_status(db, project, clock, names, "new")
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(name: str) -> None:
        try:
            start.wait()
            for _ in range(5):
                triggers.release_due(db, clock.now())
                sender(db, clock, name=name).drain()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(smtp.inbox.addresses()) == sorted(f"{n}@x.test" for n in names)
    assert sends(db, campaign) == [("queued", None)] * 40
    with db.connect() as conn:
        recipients = conn.execute(
            sa.select(sa.func.count()).where(campaign_recipients.c.campaign_id == campaign)
        ).scalar()
    assert recipients == 40


def test_a_worker_killed_while_deciding_leaves_the_sends_for_the_next(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
    segment: int,
) -> None:
    campaign = triggered(db, project, owner, clock, segment)
    set_status(db, project, clock, ["ann", "bob"], "new")
    conn = db.connect()
    transaction = conn.begin()
    assert triggers.decide_batch(conn, project, campaign, clock.now()) == 2
    transaction.rollback()  # the worker died before its commit
    conn.close()
    assert sends(db, campaign) == [("pending", None)] * 2
    deliver(db, clock)  # a restarted worker
    deliver(db, clock)
    assert (mails_to(smtp, "ann"), mails_to(smtp, "bob")) == (1, 1)


def test_a_trigger_is_checked_with_json_paths(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, segment: int
) -> None:
    def refused(trigger: Any, **fields: Any) -> tuple[str | None, str]:
        with pytest.raises(InvalidInput) as caught, db.begin() as conn:
            data = {"name": "T", "trigger": trigger, **fields}
            definitions.create_campaign(conn, project, data, owner.user_id, clock.now(), owner)
        return caught.value.path, caught.value.message

    assert refused({"on": "join", "segment_id": segment})[0] == "trigger.on"
    assert refused({"on": "enter", "segment_id": 99999}) == (
        "trigger.segment_id",
        "no segment 99999 in this project",
    )
    assert refused({"on": "enter", "segment_id": segment, "delay_minutes": -1})[0] == (
        "trigger.delay_minutes"
    )
    assert refused({"on": "enter", "segment_id": segment, "cap": {"max": 0, "per_days": 1}})[0] == (
        "trigger.cap.max"
    )
    assert refused({"on": "enter", "segment_id": segment, "when": 1})[0] == "trigger.when"
    cron = {"kind": "cron", "cron": "0 10 * * *"}
    assert refused({"on": "enter", "segment_id": segment}, schedule=cron)[0] == "schedule.kind"
    with db.begin() as conn:
        segments_engine.update_segment(conn, project, owner, segment, {"active": False}, clock)
    path, message = refused({"on": "enter", "segment_id": segment})
    assert path == "trigger.segment_id" and "inactive" in message
    with db.begin() as conn:
        accounts_only = {"name": "Big", "audience": "accounts"}
        accounts_only["filter"] = {"field": "name", "op": "is_not_null"}
        made = segments_engine.create_segment(conn, project, owner, accounts_only, clock)
    path, message = refused({"on": "enter", "segment_id": made.id})
    assert path == "trigger.segment_id" and "account segment" in message
