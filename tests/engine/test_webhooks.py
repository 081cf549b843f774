"""Webhooks against a real local HTTP receiver, on both databases: batched, signed, routed by
event and segment, retried with backoff while the receiver fails, each change delivered once."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.clock import FrozenClock
from segmint.engine import accounts, leads, segments, webhooks
from segmint.ingest import upsert_leads
from segmint.model import Role
from segmint.outbound import ALLOW_PRIVATE_ENV
from segmint.projects import Project
from segmint.signing import SIGNATURE_HEADER, verify
from segmint.store.tables import (
    account_membership_history,
    membership_history,
    users,
    webhook_attempts,
    webhook_queue,
)
from segmint.store.tables import webhooks as webhooks_table
from segmint.worker.delivery import Deliverer
from segmint.worker.loop import Worker
from tests.receiver import Receiver

NEW = {"field": "status", "op": "eq", "value": "new"}
SECRET = "whsec_test_secret_0123456789"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def _owner(db: Engine, project: Project) -> Principal:
    with db.connect() as conn:
        user_id = conn.execute(sa.select(users.c.id)).scalar_one()
    return Principal(user_id, project.organization_id, "owner@acme.test", Role.OWNER, None)


def _segment(db: Engine, project: Project, tree: Any, clock: FrozenClock) -> int:
    with db.begin() as conn:
        data = {"name": f"S{tree}", "filter": tree}
        return int(segments.create_segment(conn, project, _owner(db, project), data, clock).id)


def _webhook(db: Engine, project: Project, clock: FrozenClock, url: str, **fields: Any) -> int:
    with db.begin() as conn:
        return webhooks.create_webhook(
            conn, project, {"url": url, "secret": SECRET, **fields}, None, clock.now()
        )


def _add_leads(db: Engine, project: Project, clock: FrozenClock, n: int, status: str) -> None:
    rows = [{"email": f"l{i}@x.test", "status": status} for i in range(n)]
    upsert_leads(db, project, enumerate(rows), clock=clock)


def _history_ids(db: Engine, segment_id: int | None = None) -> list[int]:
    query = sa.select(membership_history.c.id).order_by(membership_history.c.id)
    if segment_id is not None:
        query = query.where(membership_history.c.segment_id == segment_id)
    with db.connect() as conn:
        return list(conn.execute(query).scalars())


def _deliverer(db: Engine, clock: FrozenClock, **options: Any) -> Deliverer:
    return Deliverer(db, clock, backoff_base=timedelta(seconds=10), **options)


def test_changes_are_delivered_in_signed_batches_once(
    db: Engine, project: Project, clock: FrozenClock, receiver: Receiver
) -> None:
    segment_id = _segment(db, project, NEW, clock)
    _webhook(db, project, clock, receiver.url)
    worker = Worker(db, clock)
    worker.drain()
    _add_leads(db, project, clock, 7, "new")
    worker.drain()

    deliverer = _deliverer(db, clock, batch=3)
    assert deliverer.drain() == 7
    assert [len(r.payload["changes"]) for r in receiver.received] == [3, 3, 1]
    for request in receiver.received:
        assert verify(SECRET, request.body, request.headers[SIGNATURE_HEADER])
        assert not verify("another secret", request.body, request.headers[SIGNATURE_HEADER])
    changes = receiver.changes()
    assert [c["id"] for c in changes] == _history_ids(db, segment_id)  # in order, each once
    first = changes[0]
    assert first["event"] == "segment.entered"
    assert first["idempotency_key"] == f"chg_{first['id']}"
    assert first["segment"] == {"id": segment_id, "name": f"S{NEW}", "version": 1}
    assert first["lead"]["email"] == "l0@x.test"
    assert first["reason"] == "lead_write"

    assert deliverer.drain() == 0  # nothing is sent twice
    assert len(receiver.received) == 3
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webhook_queue)).scalar() == 0
        log = conn.execute(sa.select(webhook_attempts)).all()
    assert [(a.succeeded, a.status_code, len(a.history_ids)) for a in log] == [
        (True, 200, 3),
        (True, 200, 3),
        (True, 200, 1),
    ]


def test_webhooks_hear_only_their_events_and_segment(
    db: Engine, project: Project, clock: FrozenClock, receiver: Receiver
) -> None:
    new = _segment(db, project, NEW, clock)
    lost = _segment(db, project, {"field": "status", "op": "eq", "value": "lost"}, clock)
    Worker(db, clock).drain()
    exits_of_new = Receiver().start()
    try:
        _webhook(db, project, clock, exits_of_new.url, events=["segment.exited"], segment_id=new)
        _webhook(db, project, clock, receiver.url)  # everything
        _webhook(db, project, clock, receiver.url, active=False)  # paused: queues nothing

        _add_leads(db, project, clock, 2, "new")
        Worker(db, clock).drain()
        with db.begin() as conn:
            lead_id = conn.execute(sa.select(sa.func.min(membership_history.c.lead_id))).scalar()
            leads.update_lead(conn, project, int(lead_id), {"status": "lost"}, clock)
        Worker(db, clock).drain()
        _deliverer(db, clock).drain()

        assert [(c["event"], c["segment"]["id"]) for c in exits_of_new.changes()] == [
            ("segment.exited", new)
        ]
        heard = sorted((c["event"], c["segment"]["id"]) for c in receiver.changes())
        assert heard == sorted(
            [("segment.entered", new)] * 2 + [("segment.exited", new), ("segment.entered", lost)]
        )
    finally:
        exits_of_new.stop()


def test_a_failing_receiver_gets_everything_afterwards_nothing_twice(
    db: Engine, project: Project, clock: FrozenClock, receiver: Receiver
) -> None:
    segment_id = _segment(db, project, NEW, clock)
    hook_id = _webhook(db, project, clock, receiver.url)
    worker = Worker(db, clock)
    worker.drain()
    _add_leads(db, project, clock, 5, "new")
    worker.drain()
    deliverer = _deliverer(db, clock, batch=2, timeout=0.5)

    receiver.fail_with(500, 1)
    assert deliverer.drain() == 0
    assert _next_attempt_in(db, hook_id, clock) == timedelta(seconds=10)
    assert deliverer.drain() == 0  # backing off: not due yet, no request made
    assert len(_attempts(db)) == 1

    clock.advance(timedelta(seconds=10))
    receiver.stop()  # down: connections refused
    assert deliverer.drain() == 0
    assert _next_attempt_in(db, hook_id, clock) == timedelta(seconds=20)

    clock.advance(timedelta(seconds=20))
    receiver.start()
    receiver.stall(1.0, 1)  # answers too late: counted as a failure, though it got the batch
    assert deliverer.drain() == 0
    assert _next_attempt_in(db, hook_id, clock) == timedelta(seconds=40)

    # More changes pile up while the receiver is failing.
    with db.begin() as conn:
        first = min(_lead_ids(conn, project))
        leads.update_lead(conn, project, first, {"status": "lost"}, clock)
    worker.drain()

    clock.advance(timedelta(seconds=40))
    assert deliverer.drain() == 6
    assert _attempts(db)[-1] == (True, 200, None)
    errors = [error for _, _, error in _attempts(db)[:3]]
    assert errors[0] is not None and errors[0].startswith("HTTP 500")
    assert errors[1] is not None and "ConnectError" in errors[1]
    assert errors[2] == "timed out after 0.5 s"

    keys = [c["idempotency_key"] for c in receiver.changes()]
    # The stalled batch reached the receiver before it timed out and was sent again with the same
    # keys: dropping repeated keys leaves every change exactly once, in order.
    assert list(dict.fromkeys(keys)) == [f"chg_{i}" for i in _history_ids(db, segment_id)]
    assert len(keys) == 6 + 2
    with db.connect() as conn:
        hook = conn.execute(sa.select(webhooks_table)).one()
    assert (hook.consecutive_failures, hook.next_attempt_at, hook.leased_until) == (0, None, None)


def test_time_based_exits_and_deletions_are_delivered(
    db: Engine, project: Project, clock: FrozenClock, receiver: Receiver
) -> None:
    recent = {"field": "created_at", "op": "within_last", "value": 7}
    segment_id = _segment(db, project, recent, clock)
    _webhook(db, project, clock, receiver.url, segment_id=segment_id)
    _add_leads(db, project, clock, 2, "new")
    worker = Worker(db, clock)
    worker.drain()
    with db.begin() as conn:
        first, second = sorted(_lead_ids(conn, project))
        leads.delete_lead(conn, project, first, clock)
    clock.advance(timedelta(days=7, seconds=30))
    assert worker.sweep_time().exited == 1
    _deliverer(db, clock).drain()

    heard = [(c["event"], c["lead"]["id"], c["reason"]) for c in receiver.changes()]
    assert heard == [
        ("segment.entered", first, "created"),  # the segment's first sync saw both leads
        ("segment.entered", second, "created"),
        ("segment.exited", first, "lead_write"),
        ("segment.exited", second, "time"),
    ]
    assert receiver.changes()[-1]["at"].startswith("2026-11-08T12:00:00")  # the exact flip


def test_deleting_a_segment_deletes_its_webhooks(
    db: Engine, project: Project, clock: FrozenClock, receiver: Receiver
) -> None:
    segment_id = _segment(db, project, NEW, clock)
    _webhook(db, project, clock, receiver.url, segment_id=segment_id)
    _add_leads(db, project, clock, 2, "new")
    Worker(db, clock).drain()
    with db.begin() as conn:
        segments.delete_segment(conn, project, _owner(db, project), segment_id, force=False)
        assert webhooks.all_webhooks(conn, project) == []
        assert conn.execute(sa.select(sa.func.count()).select_from(webhook_queue)).scalar() == 0


def _next_attempt_in(db: Engine, hook_id: int, clock: FrozenClock) -> timedelta:
    with db.connect() as conn:
        at = conn.execute(
            sa.select(webhooks_table.c.next_attempt_at).where(webhooks_table.c.id == hook_id)
        ).scalar_one()
    from segmint.clock import as_utc

    return as_utc(at) - clock.now()


def _attempts(db: Engine) -> list[tuple[bool, int | None, str | None]]:
    with db.connect() as conn:
        rows = conn.execute(sa.select(webhook_attempts).order_by(webhook_attempts.c.id))
        return [(r.succeeded, r.status_code, r.error) for r in rows]


def _lead_ids(conn: sa.Connection, project: Project) -> list[int]:
    from segmint.store.tables import leads as leads_table

    return list(
        conn.execute(
            sa.select(leads_table.c.id).where(leads_table.c.project_id == project.id)
        ).scalars()
    )


# -- destinations inside the network (SSRF) -------------------------------------------------------


def _errors_by_hook(db: Engine, project: Project) -> dict[int, list[str | None]]:
    query = (
        sa.select(webhook_attempts.c.webhook_id, webhook_attempts.c.error)
        .where(webhook_attempts.c.project_id == project.id)
        .order_by(webhook_attempts.c.id)
    )
    found: dict[int, list[str | None]] = {}
    with db.connect() as conn:
        for hook_id, error in conn.execute(query):
            found.setdefault(hook_id, []).append(error)
    return found


def _scripted_dns(monkeypatch: pytest.MonkeyPatch, name: str, answers: list[str]) -> list[str]:
    """`name` resolves to each of `answers` in turn (the last one for good); other names resolve
    as usual. Returns the answers given, in order. (The machine's resolver cannot be told to
    change its mind between two lookups, which is what a rebinding attacker's DNS server does.)"""
    given: list[str] = []
    system = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return system(host, port, *args, **kwargs)
        given.append(answers[min(len(given), len(answers) - 1)])
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (given[-1], port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return given


def test_webhooks_saved_while_allowed_do_not_reach_inside_once_refused(
    db: Engine,
    project: Project,
    clock: FrozenClock,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _segment(db, project, NEW, clock)
    Worker(db, clock).drain()
    inside = {
        receiver.url: "127.0.0.1 is a loopback address",
        f"http://localhost:{receiver.port}/hook": "localhost resolves to 127.0.0.1, a loopback",
        "http://10.0.0.1/hook": "10.0.0.1 is a private address",
        "http://169.254.169.254/latest/meta-data/": "169.254.169.254 is a link-local",
        f"http://[::ffff:127.0.0.1]:{receiver.port}/hook": "::ffff:127.0.0.1 is a loopback",
    }
    hooks = {_webhook(db, project, clock, url): reason for url, reason in inside.items()}
    _add_leads(db, project, clock, 2, "new")
    Worker(db, clock).drain()

    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    assert _deliverer(db, clock).drain() == 0
    assert receiver.received == []
    errors = _errors_by_hook(db, project)
    for hook_id, reason in hooks.items():
        [error] = errors[hook_id]
        assert error is not None and error.startswith(f"ConnectError: {reason}"), error
        assert ALLOW_PRIVATE_ENV in error

    # Allowed again, the local ones are delivered: the refusal was all that stopped them.
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    with db.begin() as conn:
        for hook_id in list(hooks)[2:4]:  # 10.0.0.1 and 169.254.169.254 lead nowhere here
            webhooks.delete_webhook(conn, project, hook_id)
    clock.advance(timedelta(minutes=1))
    assert _deliverer(db, clock).drain() == 3 * 2
    assert {request.headers["Host"] for request in receiver.received} == {
        f"127.0.0.1:{receiver.port}",
        f"localhost:{receiver.port}",
        f"[::ffff:127.0.0.1]:{receiver.port}",
    }


def test_a_name_rebound_to_loopback_after_saving_is_refused_at_connect_time(
    db: Engine,
    project: Project,
    clock: FrozenClock,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    lookups = _scripted_dns(monkeypatch, "rebind.test", ["93.184.215.14", "127.0.0.1"])
    _segment(db, project, NEW, clock)
    Worker(db, clock).drain()
    hook_id = _webhook(db, project, clock, f"http://rebind.test:{receiver.port}/hook")
    assert lookups == ["93.184.215.14"]  # public when saved
    _add_leads(db, project, clock, 1, "new")
    Worker(db, clock).drain()

    assert _deliverer(db, clock).drain() == 0
    assert lookups == ["93.184.215.14", "127.0.0.1"]
    assert receiver.received == []
    [error] = _errors_by_hook(db, project)[hook_id]
    assert error is not None
    assert error.startswith("ConnectError: rebind.test resolves to 127.0.0.1, a loopback address")


def test_the_address_checked_is_the_address_connected_to(
    db: Engine,
    project: Project,
    clock: FrozenClock,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One lookup per connection: a second one (by the socket layer, say) could get another
    answer than the one vetted. Here a second answer would lead to a port nobody listens on."""
    lookups = _scripted_dns(monkeypatch, "rebind.test", ["127.0.0.1", "127.0.0.2"])
    _segment(db, project, NEW, clock)
    Worker(db, clock).drain()
    _webhook(db, project, clock, f"http://rebind.test:{receiver.port}/hook")
    _add_leads(db, project, clock, 1, "new")
    Worker(db, clock).drain()

    assert _deliverer(db, clock).drain() == 1
    assert lookups == ["127.0.0.1"]
    [request] = receiver.received
    assert request.headers["Host"] == f"rebind.test:{receiver.port}"


def test_a_failed_delivery_records_the_status_and_never_the_body(
    db: Engine, project: Project, clock: FrozenClock, receiver: Receiver
) -> None:
    _segment(db, project, NEW, clock)
    Worker(db, clock).drain()
    hook_id = _webhook(db, project, clock, receiver.url)
    _add_leads(db, project, clock, 1, "new")
    Worker(db, clock).drain()
    receiver.fail_with(500, 1, body=b"Traceback ... DATABASE_PASSWORD=hunter2")

    assert _deliverer(db, clock).drain() == 0
    assert _errors_by_hook(db, project)[hook_id] == ["HTTP 500"]


def test_account_segment_changes_reach_webhooks_with_an_account(
    db: Engine, project: Project, clock: FrozenClock, receiver: Receiver
) -> None:
    """An account segment's entries and exits are POSTed as a lead segment's are, the member
    an `account` object, in queue order with lead segments' changes, each once."""
    lead_segment = _segment(db, project, NEW, clock)
    with db.begin() as conn:
        data = {
            "name": "Gold",
            "audience": "accounts",
            "filter": {"field": "metadata.tier", "op": "eq", "value": "gold"},
        }
        account_segment = segments.create_segment(conn, project, _owner(db, project), data, clock)
    _webhook(db, project, clock, receiver.url)
    worker = Worker(db, clock)
    worker.drain()
    with db.begin() as conn:
        fields = {"name": "Acme", "domain": "acme.com", "metadata": {"tier": "gold"}}
        acme = accounts.create_account(conn, project, fields, clock).id
    worker.drain()
    _add_leads(db, project, clock, 1, "new")
    worker.drain()
    with db.begin() as conn:
        accounts.update_account(conn, project, acme, {"metadata": {"tier": "silver"}}, clock)
    worker.drain()

    assert _deliverer(db, clock).drain() == 3
    changes = receiver.changes()
    assert [(c["event"], c["segment"]["id"]) for c in changes] == [
        ("segment.entered", account_segment.id),
        ("segment.entered", lead_segment),
        ("segment.exited", account_segment.id),
    ]
    entered = changes[0]
    with db.connect() as conn:
        history_ids = list(
            conn.execute(
                sa.select(account_membership_history.c.id).order_by(account_membership_history.c.id)
            ).scalars()
        )
    assert [entered["id"], changes[2]["id"]] == history_ids
    assert entered["idempotency_key"] == f"achg_{entered['id']}"
    assert entered["account"] == {"id": acme, "name": "Acme", "domain": "acme.com"}
    assert "lead" not in entered
    assert entered["reason"] == "account_write"
    assert entered["segment"] == {"id": account_segment.id, "name": "Gold", "version": 1}
    assert "lead" in changes[1] and "account" not in changes[1]
    assert _deliverer(db, clock).drain() == 0
    with db.connect() as conn:  # the log lists the two histories' ids apart
        log = conn.execute(sa.select(webhook_attempts).order_by(webhook_attempts.c.id)).all()
    assert [(a.history_ids, a.account_history_ids) for a in log] == [
        ([changes[1]["id"]], [entered["id"], changes[2]["id"]])
    ]
