"""Entry- and exit-triggered campaigns on both databases, sent to a real SMTP server: exactly
one send per entry (two workers, a worker killed mid-decision), the delay and the check at due
time, exits, the frequency cap, unsubscribes, and the triggered runs beside the others."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.campaigns import definitions, runs, triggers
from segmint.campaigns.sender import run_campaigns_due
from segmint.clock import FrozenClock
from segmint.engine import manual
from segmint.engine import segments as segments_engine
from segmint.errors import InvalidInput
from segmint.ingest.leads import upsert_leads
from segmint.projects import Project
from segmint.store.tables import (
    campaign_recipients,
    campaign_trigger_sends,
    leads,
    membership_history,
)
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


@dataclass
class Bed:
    """What every trigger test starts from: mail going to the real SMTP server, leads Ann, Bob
    and Cy (status lost), the active segment New (status new), and the steps the tests take."""

    db: Engine
    project: Project
    owner: Principal
    clock: FrozenClock
    smtp: SmtpServer
    segment: int = 0

    def trigger(self, segment: int | None = None, **trigger: Any) -> int:
        """A scheduled campaign triggered by the segment (New unless given)."""
        spec = {"on": "enter", "segment_id": segment or self.segment, **trigger}
        return add_campaign(
            self.db, self.project, self.owner, self.clock, trigger=spec, state="scheduled"
        )

    def set_status(self, names: list[str], status: str) -> None:
        """Write the leads' status and let the worker maintain memberships (entries, exits)."""
        rows = [{"email": f"{n}@x.test", "first_name": n.title(), "status": status} for n in names]
        records = list(enumerate(rows, start=1))
        report = upsert_leads(self.db, self.project, records, clock=self.clock)
        assert not report.errors
        Worker(self.db, self.clock).drain()

    def lead_id(self, name: str) -> int:
        with self.db.connect() as conn:
            return int(
                conn.execute(
                    sa.select(leads.c.id).where(
                        leads.c.project_id == self.project.id, leads.c.email == f"{name}@x.test"
                    )
                ).scalar_one()
            )

    def deliver(self) -> None:
        run_campaigns_due(self.db, self.clock)

    def sends(self, campaign: int) -> list[tuple[str, str | None]]:
        c = campaign_trigger_sends.c
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(c.state, c.skip_reason).where(c.campaign_id == campaign).order_by(c.id)
            )
            return [(r.state, r.skip_reason) for r in rows]

    def mails_to(self, name: str) -> int:
        return len(self.smtp.inbox.to(f"{name}@x.test"))

    def update(self, campaign: int, changes: dict[str, Any]) -> None:
        with self.db.begin() as conn:
            definitions.update_campaign(
                conn, self.project, self.owner, campaign, changes, self.clock.now()
            )


@pytest.fixture
def bed(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, smtp: SmtpServer
) -> Bed:
    configure_mail(db, project, smtp.port, clock)
    made = Bed(db, project, owner, clock, smtp)
    made.set_status(["ann", "bob", "cy"], "lost")
    made.segment = add_segment(db, project, owner, "New", NEW, clock)
    Worker(db, clock).drain()  # its first membership, built before any test step
    return made


def test_an_entry_sends_once_and_shows_as_a_triggered_run(bed: Bed) -> None:
    campaign = bed.trigger()
    bed.set_status(["ann"], "new")
    bed.deliver()
    bed.deliver()  # nothing is sent twice
    assert bed.mails_to("ann") == 1 and bed.mails_to("bob") == 0
    assert bed.smtp.inbox.to("ann@x.test")[0]["Subject"] == "Hi Ann"
    with bed.db.connect() as conn:
        listed = runs.runs_of(conn, bed.project, campaign, None, 10)
    assert [(r["kind"], r["state"], r["sent"], r["audience"]) for r in listed] == [
        ("trigger", "done", 1, 1)
    ]
    # Leaving and entering again is a new entry: a second message.
    bed.set_status(["ann"], "lost")
    bed.clock.advance(timedelta(minutes=1))
    bed.set_status(["ann"], "new")
    bed.deliver()
    assert bed.mails_to("ann") == 2
    assert bed.sends(campaign) == [("queued", None), ("queued", None)]


def test_members_before_the_trigger_existed_are_not_sent(bed: Bed) -> None:
    bed.set_status(["ann"], "new")
    bed.trigger()
    bed.deliver()
    assert bed.smtp.inbox.addresses() == []


def test_a_delayed_send_goes_only_to_leads_still_in_the_segment(bed: Bed) -> None:
    campaign = bed.trigger(delay_minutes=60)
    bed.set_status(["ann", "bob"], "new")
    bed.deliver()
    assert bed.smtp.inbox.addresses() == []  # not yet due
    bed.clock.advance(timedelta(minutes=30))
    bed.set_status(["bob"], "lost")
    bed.clock.advance(timedelta(minutes=31))
    bed.deliver()
    assert (bed.mails_to("ann"), bed.mails_to("bob")) == (1, 0)
    assert sorted(bed.sends(campaign)) == [("queued", None), ("skipped", "membership")]
    with bed.db.connect() as conn:
        run = runs.runs_of(conn, bed.project, campaign, None, 10)[0]
    assert (run["audience"], run["sent"], run["skipped_membership"]) == (2, 1, 1)


def test_without_the_membership_check_a_lead_that_left_is_sent_too(bed: Bed) -> None:
    bed.trigger(delay_minutes=10, only_if_still_member=False)
    bed.set_status(["bob"], "new")
    bed.set_status(["bob"], "lost")
    bed.clock.advance(timedelta(minutes=11))
    bed.deliver()
    assert bed.mails_to("bob") == 1


def test_an_exit_trigger_sends_when_a_lead_leaves(bed: Bed) -> None:
    bed.set_status(["ann", "bob"], "new")
    campaign = bed.trigger(on="exit")
    bed.set_status(["cy"], "new")  # an entry: not listened to
    bed.set_status(["ann"], "lost")
    bed.deliver()
    assert (bed.mails_to("ann"), bed.mails_to("bob"), bed.mails_to("cy")) == (1, 0, 0)
    assert bed.sends(campaign) == [("queued", None)]


def test_the_cap_limits_sends_per_lead_per_days(bed: Bed) -> None:
    campaign = bed.trigger(cap={"max": 1, "per_days": 7})
    for _ in range(2):  # two entries in a day: the second is over the cap
        bed.set_status(["ann"], "new")
        bed.deliver()
        bed.set_status(["ann"], "lost")
        bed.clock.advance(timedelta(hours=1))
    assert bed.mails_to("ann") == 1
    assert bed.sends(campaign) == [("queued", None), ("skipped", "capped")]
    bed.clock.advance(timedelta(days=7))
    bed.set_status(["ann"], "new")
    bed.deliver()
    assert bed.mails_to("ann") == 2


def test_unsubscribed_leads_are_skipped(bed: Bed) -> None:
    campaign = bed.trigger(delay_minutes=5)
    bed.set_status(["ann", "bob"], "new")
    unsubscribe_lead(bed.db, bed.project, bed.lead_id("ann"), bed.clock)
    bed.clock.advance(timedelta(minutes=6))
    bed.deliver()
    assert (bed.mails_to("ann"), bed.mails_to("bob")) == (0, 1)
    assert sorted(bed.sends(campaign)) == [("queued", None), ("skipped", "unsubscribed")]


def test_a_paused_campaign_keeps_its_sends_until_resumed(bed: Bed) -> None:
    campaign = bed.trigger()
    bed.update(campaign, {"state": "paused"})
    bed.set_status(["ann"], "new")
    bed.deliver()
    assert bed.smtp.inbox.addresses() == [] and bed.sends(campaign) == [("pending", None)]
    bed.update(campaign, {"state": "scheduled"})
    bed.deliver()
    assert bed.mails_to("ann") == 1
    # Back to draft, or the trigger removed: sends still waiting are dropped.
    bed.update(
        campaign, {"trigger": {"on": "enter", "segment_id": bed.segment, "delay_minutes": 5}}
    )
    bed.set_status(["bob"], "new")
    assert bed.sends(campaign)[-1] == ("pending", None)
    bed.update(campaign, {"state": "draft"})
    assert ("pending", None) not in bed.sends(campaign)


def test_two_workers_send_each_entry_exactly_once(bed: Bed) -> None:
    campaign = bed.trigger()
    names = [f"lead{i}" for i in range(40)]
    bed.set_status(names, "new")
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(name: str) -> None:
        try:
            start.wait()
            for _ in range(5):
                triggers.release_due(bed.db, bed.clock.now())
                sender(bed.db, bed.clock, name=name).drain()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(bed.smtp.inbox.addresses()) == sorted(f"{n}@x.test" for n in names)
    assert bed.sends(campaign) == [("queued", None)] * 40
    with bed.db.connect() as conn:
        recipients = conn.execute(
            sa.select(sa.func.count()).where(campaign_recipients.c.campaign_id == campaign)
        ).scalar()
    assert recipients == 40


def test_a_worker_killed_while_deciding_leaves_the_sends_for_the_next(bed: Bed) -> None:
    campaign = bed.trigger()
    bed.set_status(["ann", "bob"], "new")
    conn = bed.db.connect()
    transaction = conn.begin()
    assert triggers.decide_batch(conn, bed.project, campaign, bed.clock.now()) == 2
    transaction.rollback()  # the worker died before its commit
    conn.close()
    assert bed.sends(campaign) == [("pending", None)] * 2
    bed.deliver()  # a restarted worker
    bed.deliver()
    assert (bed.mails_to("ann"), bed.mails_to("bob")) == (1, 1)


def test_a_trigger_is_checked_with_json_paths(bed: Bed) -> None:
    db, project, owner, clock, segment = bed.db, bed.project, bed.owner, bed.clock, bed.segment

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


def _history_reasons(bed: Bed, segment: int, lead: int) -> list[tuple[str, str]]:
    h = membership_history.c
    with bed.db.connect() as conn:
        rows = conn.execute(
            sa.select(h.change, h.reason)
            .where(h.project_id == bed.project.id, h.segment_id == segment, h.lead_id == lead)
            .order_by(h.at, h.id)
        )
        return [(r.change, r.reason) for r in rows]


@pytest.mark.parametrize("reads", ["a lead's date", "time in segment"])
def test_an_entry_by_the_time_sweep_sends(bed: Bed, reads: str) -> None:
    """No write makes the lead enter: the clock does, and the worker's time sweep records the
    entry (reason `time`) at the instant it happened; the trigger sends for it like any other.
    Both kinds of time-based entry: a lead's own date, and time in another segment."""
    bed.set_status(["ann"], "new")  # Ann is in New from now on; Bob and Cy are not
    if reads == "a lead's date":
        ripe = {"and": [NEW, {"field": "updated_at", "op": "older_than", "value": 3}]}
    else:
        ripe = {"in_segment": bed.segment, "for_at_least_days": 3}
    segment = add_segment(bed.db, bed.project, bed.owner, "Ripe", ripe, bed.clock)
    Worker(bed.db, bed.clock).drain()
    campaign = bed.trigger(segment)
    bed.deliver()
    assert bed.smtp.inbox.addresses() == []  # not ripe yet

    bed.clock.advance(timedelta(days=3, minutes=5))
    Worker(bed.db, bed.clock).sweep_time()
    bed.deliver()
    assert (bed.mails_to("ann"), bed.mails_to("bob")) == (1, 0)
    assert bed.smtp.inbox.to("ann@x.test")[0]["Subject"] == "Hi Ann"
    assert _history_reasons(bed, segment, bed.lead_id("ann")) == [("entered", "time")]
    assert bed.sends(campaign) == [("queued", None)]
    Worker(bed.db, bed.clock).sweep_time()  # nothing more to sweep: nothing sent twice
    bed.deliver()
    assert bed.mails_to("ann") == 1


def test_a_manual_include_sends(bed: Bed) -> None:
    """Including a lead by hand makes it enter the segment (reason `manual`): the trigger
    sends for it; an exclude then makes it leave, which an exit trigger answers."""
    entered = bed.trigger()
    left = bed.trigger(on="exit")
    ann = bed.lead_id("ann")  # status lost: not in New by its filter
    with bed.db.begin() as conn:
        manual.add(conn, bed.project, bed.owner, bed.segment, "include", [ann], bed.clock)
    Worker(bed.db, bed.clock).drain()  # the segment follows its manual members
    bed.deliver()
    assert (bed.mails_to("ann"), bed.mails_to("bob")) == (1, 0)
    assert bed.sends(entered) == [("queued", None)] and bed.sends(left) == []
    assert _history_reasons(bed, bed.segment, ann) == [("entered", "manual")]

    bed.clock.advance(timedelta(minutes=1))
    with bed.db.begin() as conn:
        manual.add(conn, bed.project, bed.owner, bed.segment, "exclude", [ann], bed.clock)
    Worker(bed.db, bed.clock).drain()
    bed.deliver()
    assert bed.mails_to("ann") == 2  # the exit campaign's message
    assert bed.sends(entered) == [("queued", None)] and bed.sends(left) == [("queued", None)]
