"""Exactly once under faults: two senders at once, a worker process killed mid-run at chosen
points of an SMTP conversation, on both databases. (A server down or deferring for a while is
in test_delivery.py.)"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.campaigns.sender import Sender
from segmint.clock import SYSTEM_CLOCK, FrozenClock
from segmint.projects import Project
from tests.campaigns.conftest import (
    add_campaign,
    add_leads,
    add_segment,
    configure_mail,
    recipient_states,
    run_now,
    summary,
)
from tests.processes import Spawned, wait_until
from tests.smtp import Hold, SmtpServer

COUNT = 30
LEADS = [
    {"email": f"r{i:02d}@x.test", "first_name": f"R{i}", "status": "new"} for i in range(COUNT)
]
ADDRESSES = sorted(lead["email"] for lead in LEADS)


@pytest.fixture
def campaign(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, smtp: SmtpServer
) -> int:
    configure_mail(db, project, smtp.port, clock, rate_per_minute=6000)
    add_leads(db, project, clock, LEADS)
    new = {"field": "status", "op": "eq", "value": "new"}
    segment = add_segment(db, project, owner, "New", new, clock)
    return add_campaign(db, project, owner, clock, targeting={"include_segments": [segment]})


@pytest.fixture
def spawned(tmp_path: Path, db_url: str) -> Iterator[Spawned]:
    workers = Spawned(tmp_path, db_url)
    yield workers
    workers.close()


def _once_each(smtp: SmtpServer) -> None:
    counts = Counter(smtp.inbox.addresses())
    assert sorted(counts) == ADDRESSES
    assert set(counts.values()) == {1}, {a: n for a, n in counts.items() if n > 1}


def test_two_senders_on_one_run_send_each_mail_once(
    db: Engine, project: Project, clock: FrozenClock, campaign: int, smtp: SmtpServer
) -> None:
    run = run_now(db, project, campaign, clock)
    # A run lease of 20 ms: both senders work the same run at once, so only the per-recipient
    # claim stands between them and a duplicate.
    senders = [
        Sender(db, SYSTEM_CLOCK, chunk=3, lease=timedelta(milliseconds=20)) for _ in range(2)
    ]
    threads = [threading.Thread(target=sender.drain) for sender in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    Sender(db, SYSTEM_CLOCK).drain()  # whatever a sender left when the other held the run
    _once_each(smtp)
    assert set(recipient_states(db, project, run).values()) == {"sent"}
    assert summary(db, project, campaign, run)["state"] == "done"


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_a_worker_killed_mid_conversation_never_causes_a_second_mail(
    db: Engine,
    project: Project,
    clock: FrozenClock,
    campaign: int,
    smtp: SmtpServer,
    spawned: Spawned,
    stage: str,
) -> None:
    """Killed while the server holds RCPT TO for r10 (nothing claimed: the next worker sends
    it), or after the server took r10's message but before it answered (the next worker finds
    the claim, marks it unconfirmed and does not send it again)."""
    hold = Hold(stage, "r10@x.test")
    smtp.inbox.hold = hold
    run = run_now(db, project, campaign, clock)
    first = spawned.start("--lease", "1")
    assert hold.reached.wait(60), spawned.log(first)
    first.kill()
    first.wait()
    hold.release.set()
    second = spawned.start("--lease", "1")
    spawned.wait_started(second)
    wait_until(lambda: summary(db, project, campaign, run)["state"] == "done", "the run to end")
    spawned.stop(second)
    _once_each(smtp)
    states = recipient_states(db, project, run)
    expected = "sent" if stage == "rcpt" else "unconfirmed"
    assert states.pop("r10@x.test") == expected
    assert set(states.values()) == {"sent"}
