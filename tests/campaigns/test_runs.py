"""Targeting, audience previews, frozen runs, the resend policy and error states, on both
databases, delivered to a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.campaigns import audience, definitions, runs
from segmint.campaigns.definitions import Resend, Targeting
from segmint.clock import FrozenClock
from segmint.engine import lists as lists_engine
from segmint.engine import segments as segments_engine
from segmint.errors import Conflict, InvalidInput
from segmint.projects import Project
from segmint.store.tables import campaigns
from tests.campaigns.conftest import (
    add_campaign,
    add_leads,
    add_segment,
    configure_mail,
    recipient_states,
    run_now,
    sender,
    summary,
    unsubscribe_lead,
)
from tests.smtp import SmtpServer

LEADS = [
    {"email": "ann@a.test", "first_name": "Ann", "status": "new", "company": "A"},
    {"email": "bob@b.test", "first_name": "Bob", "status": "new", "company": "B"},
    {"email": "cy@c.test", "first_name": "Cy", "status": "contacted", "company": "C"},
    {"email": "di@d.test", "first_name": "Di", "status": "qualified", "company": "D"},
    {"first_name": "Ed", "status": "new", "company": "E"},  # no email
]
NEW = {"field": "status", "op": "eq", "value": "new"}
CONTACTED = {"field": "status", "op": "eq", "value": "contacted"}


@pytest.fixture
def world(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, smtp: SmtpServer
) -> dict[str, int]:
    configure_mail(db, project, smtp.port, clock)
    ids = add_leads(db, project, clock, LEADS)
    ids["new"] = add_segment(db, project, owner, "New", NEW, clock)
    ids["contacted"] = add_segment(db, project, owner, "Contacted", CONTACTED, clock)
    return ids


def _targeting(**fields: object) -> dict[str, object]:
    return {"include_segments": [], **fields}


def test_audience_is_a_union_minus_exclusions_and_skips(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    world: dict[str, int],
    index_mode: str,
) -> None:
    with db.begin() as conn:
        vip = lists_engine.create_list(conn, project, {"name": "VIP"}, owner.user_id, clock)
        lists_engine.add_members(
            conn, project, vip, [world["di@d.test"], world["bob@b.test"]], clock
        )
    unsubscribe_lead(db, project, world["cy@c.test"], clock)
    with db.connect() as conn:
        targeting = definitions.check_targeting(
            conn,
            project,
            {
                "include_segments": [world["new"], world["contacted"]],
                "include_lists": [vip],
                "exclude_lists": [],
                "filter": {"field": "company", "op": "neq", "value": "A"},
            },
            None,
        )
        result = audience.preview(conn, project, targeting, "email", None, Resend(), clock.now())
    # new: Ann, Bob, Ed; contacted: Cy; list: Di, Bob; minus company A (Ann)
    assert result["matching"] == 4
    assert result["skipped"] == {"already_sent": 0, "unsubscribed": 1, "no_email": 1}
    assert result["count"] == 2
    assert {lead["email"] for lead in result["sample"]} == {"bob@b.test", "di@d.test"}
    with db.connect() as conn:
        excluded = definitions.check_targeting(
            conn,
            project,
            {"include_segments": [world["new"]], "exclude_lists": [vip]},
            None,
        )
        result = audience.preview(conn, project, excluded, "email", None, Resend(), clock.now())
    assert result["count"] == 1  # Ann (Bob is in the list, Ed has no email)


def test_targeting_errors_name_the_bad_path(
    db: Engine, project: Project, world: dict[str, int]
) -> None:
    with db.connect() as conn:
        cases = [
            ({"include_segments": [world["new"], 999]}, "targeting.include_segments[1]"),
            ({"include_segments": []}, "targeting.include_segments"),
            ({"include_lists": ["x"]}, "targeting.include_lists[0]"),
            (
                {
                    "include_segments": [world["new"]],
                    "filter": {"field": "nope", "op": "eq", "value": 1},
                },
                "targeting.filter",
            ),
        ]
        for data, path in cases:
            with pytest.raises(InvalidInput) as caught:
                definitions.check_targeting(conn, project, data, None)
            assert (caught.value.path or "").startswith(path), (data, caught.value.path)


def test_a_run_freezes_its_audience_and_never_sends_twice(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    world: dict[str, int],
    smtp: SmtpServer,
    index_mode: str,
) -> None:
    campaign = add_campaign(
        db, project, owner, clock, targeting=_targeting(include_segments=[world["new"]])
    )
    first = run_now(db, project, campaign, clock)
    assert sender(db, clock).drain() > 0
    assert sorted(smtp.inbox.addresses()) == ["ann@a.test", "bob@b.test"]
    done = summary(db, project, campaign, first)
    assert done["state"] == "done"
    assert (done["audience"], done["sent"], done["skipped_no_email"]) == (3, 2, 1)
    # A lead that newly matches gets the next run; those already sent are skipped.
    add_leads(db, project, clock, [{"email": "fay@f.test", "first_name": "Fay", "status": "new"}])
    clock.advance(timedelta(hours=1))
    second = run_now(db, project, campaign, clock)
    sender(db, clock).drain()
    assert sorted(smtp.inbox.addresses()) == ["ann@a.test", "bob@b.test", "fay@f.test"]
    later = summary(db, project, campaign, second)
    assert (later["audience"], later["skipped_already_sent"], later["sent"]) == (4, 2, 1)
    assert recipient_states(db, project, second) == {"fay@f.test": "sent"}


def test_resend_policies(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    world: dict[str, int],
    smtp: SmtpServer,
) -> None:
    every = add_campaign(
        db,
        project,
        owner,
        clock,
        targeting=_targeting(include_segments=[world["contacted"]]),
        resend={"policy": "every_run"},
    )
    weekly = add_campaign(
        db,
        project,
        owner,
        clock,
        targeting=_targeting(include_segments=[world["contacted"]]),
        resend={"policy": "after_days", "after_days": 7},
    )
    for _ in range(2):
        run_now(db, project, every, clock)
        run_now(db, project, weekly, clock)
        sender(db, clock).drain()
        clock.advance(timedelta(days=4))
    assert len(smtp.inbox.to("cy@c.test")) == 3  # twice from `every`, once from `weekly`
    run_now(db, project, weekly, clock)  # 8 days after its first send
    sender(db, clock).drain()
    assert len(smtp.inbox.to("cy@c.test")) == 4


def test_an_inactive_or_deleted_segment_puts_the_campaign_in_error(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    world: dict[str, int],
    smtp: SmtpServer,
) -> None:
    campaign = add_campaign(
        db, project, owner, clock, targeting=_targeting(include_segments=[world["new"]])
    )
    with db.begin() as conn:
        segments_engine.update_segment(conn, project, owner, world["new"], {"active": False}, clock)
    run = run_now(db, project, campaign, clock)
    sender(db, clock).drain()
    failed = summary(db, project, campaign, run)
    assert failed["state"] == "error"
    assert "segment 'New' is inactive" in failed["error"]
    assert smtp.inbox.messages == []
    with db.begin() as conn, pytest.raises(Conflict) as refused:
        segments_engine.delete_segment(conn, project, owner, world["new"], force=False)
    assert "campaign 'Welcome'" in refused.value.message
    with db.begin() as conn:
        segments_engine.delete_segment(conn, project, owner, world["new"], force=True)
        found = audience.targeting_problems(
            audience.Catalog.load(conn, project),
            Targeting.of(definitions.get_campaign(conn, project, campaign)),
        )
    assert [p.message for p in found] == [
        f"segment {world['new']} was deleted (target audience missing)"
    ]


def test_scheduled_runs_happen_once_per_moment(
    db: Engine,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    world: dict[str, int],
    smtp: SmtpServer,
) -> None:
    clock.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # a Monday, 09:00 in Paris
    daily = add_campaign(
        db,
        project,
        owner,
        clock,
        targeting=_targeting(include_segments=[world["new"]]),
        schedule={"kind": "cron", "cron": "0 10 * * 1-5", "timezone": "Europe/Paris"},
        state="scheduled",
    )
    once = add_campaign(
        db,
        project,
        owner,
        clock,
        name="Launch",
        targeting=_targeting(include_segments=[world["contacted"]]),
        schedule={"kind": "once", "send_at": "2026-11-30T09:30", "timezone": "UTC"},
        state="scheduled",
    )
    assert runs.schedule_due(db, clock.now()) == 0
    clock.set(datetime(2026, 11, 30, 9, 30, tzinfo=UTC))
    assert runs.schedule_due(db, clock.now()) == 2  # both were due (10:00 Paris = 09:00 UTC)
    assert runs.schedule_due(db, clock.now()) == 0  # and only once
    sender(db, clock).drain()
    assert sorted(smtp.inbox.addresses()) == ["ann@a.test", "bob@b.test", "cy@c.test"]
    with db.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(campaigns))}
    assert rows[once].state == "finished" and rows[once].next_run_at is None
    assert rows[daily].next_run_at.replace(tzinfo=UTC) == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    # Missed for a whole week: one catch-up run, not five.
    clock.set(datetime(2026, 12, 8, 12, 0, tzinfo=UTC))
    assert runs.schedule_due(db, clock.now()) == 1
    with db.connect() as conn:
        page = runs.runs_of(conn, project, daily, None, 10)
    assert [r["kind"] for r in page] == ["schedule", "schedule"]


def test_schedule_and_state_validation(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, world: dict[str, int]
) -> None:
    targeting = _targeting(include_segments=[world["new"]])
    cases = [
        ({"schedule": {"kind": "cron", "cron": "61 * * * *"}}, "schedule.cron"),
        ({"schedule": {"kind": "once", "send_at": "soon"}}, "schedule.send_at"),
        (
            {"schedule": {"kind": "once", "send_at": "2020-01-01T00:00Z"}, "state": "scheduled"},
            "schedule.send_at",
        ),
        (
            {"schedule": {"kind": "cron", "cron": "0 9 * * *", "timezone": "Mars/Base"}},
            "schedule.timezone",
        ),
        ({"subject": "{{ lead.first_name "}, "subject"),
        ({"body": "{% for %}"}, "body"),
        (
            {
                "subject": "",
                "state": "scheduled",
                "schedule": {"kind": "cron", "cron": "0 9 * * *"},
            },
            "subject",
        ),
        (
            {
                "channel": "webhook",
                "state": "scheduled",
                "schedule": {"kind": "cron", "cron": "0 9 * * *"},
            },
            "webhook_url",
        ),
        ({"resend": {"policy": "after_days"}}, "resend.after_days"),
    ]
    for fields, path in cases:
        with db.begin() as conn, pytest.raises(InvalidInput) as caught:
            definitions.create_campaign(
                conn,
                project,
                {"name": "X", "subject": "Hi", "targeting": targeting, **fields},
                owner.user_id,
                clock.now(),
            )
        assert caught.value.path == path, (fields, caught.value.message)
    paused = add_campaign(db, project, owner, clock, targeting=targeting, state="paused")
    with db.begin() as conn, pytest.raises(Conflict):
        runs.create_run(conn, project, paused, clock.now())
