"""Active account segments keep a maintained membership and history: the worker follows
account writes, lead writes, events, account moves, deletions, filter edits and time, and the
stored members always equal the live evaluation. On both databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.clock import FrozenClock
from segmint.engine import (
    account_membership,
    account_segments,
    accounts,
    bulk,
    filtering,
    leads,
    membership,
    segments,
)
from segmint.engine.events import NewEvent, record_events
from segmint.engine.lead_writes import prepare_lead, upsert
from segmint.engine.membership import Reason
from segmint.filters import flips
from segmint.filters.source import CachingSegmentSource
from segmint.projects import Project
from segmint.store.tables import account_membership_history, membership_history
from segmint.store.tables import leads as lead_table
from segmint.worker.loop import Worker
from tests.engine.test_membership import _ids, _owner

HOT = {"field": "engagement_level", "op": "eq", "value": "Hot"}
TWO_HOT = {"leads": HOT, "min_count": 2}


def _account_segment(db: Engine, project: Project, tree: Any, clock: FrozenClock) -> int:
    with db.begin() as conn:
        data = {"name": "Accounts", "audience": "accounts", "filter": tree}
        return int(segments.create_segment(conn, project, _owner(db, project), data, clock).id)


def _members(db: Engine, project: Project, segment_id: int) -> set[int]:
    with db.connect() as conn:
        return account_membership.member_ids(conn, project, segment_id)


def _live(db: Engine, project: Project, segment_id: int, now: datetime) -> set[int]:
    with db.connect() as conn:
        row = segments.get_segment(conn, project, segment_id)
        tree = account_segments.tree_of(project, row)
        found = conn.execute(
            sa.select(account_segments.accounts.c.id).where(
                account_segments.condition(conn, project, tree, now)
            )
        )
        return set(found.scalars())


def _history(db: Engine, segment_id: int) -> list[tuple[int, str, str, int]]:
    h = account_membership_history.c
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(h.account_id, h.change, h.reason, h.segment_version)
            .where(h.segment_id == segment_id)
            .order_by(h.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _replayed(db: Engine, segment_id: int) -> set[int]:
    """The membership the history replays to: it must be the stored one."""
    members: set[int] = set()
    for account_id, change, _, _ in _history(db, segment_id):
        (members.add if change == "entered" else members.discard)(account_id)
    return members


def _account(db: Engine, project: Project, name: str, clock: FrozenClock, **meta: Any) -> int:
    with db.begin() as conn:
        fields = {"name": name, "metadata": meta}
        return accounts.create_account(conn, project, fields, clock).id


def _lead(db: Engine, project: Project, email: str, account_id: int, clock: FrozenClock) -> int:
    with db.begin() as conn:
        fields = {"email": email, "account_id": account_id}
        return leads.create_lead(conn, project, fields, clock).id


def _check(db: Engine, project: Project, segment_id: int, clock: FrozenClock) -> set[int]:
    """The membership invariant: stored = live = what the history replays to."""
    stored = _members(db, project, segment_id)
    assert stored == _live(db, project, segment_id, clock.now())
    assert _replayed(db, segment_id) == stored
    return stored


def test_account_segment_follows_writes_moves_and_deletions(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    worker = Worker(db, clock)
    acme = _account(db, project, "Acme", clock, tier="gold")
    globex = _account(db, project, "Globex", clock, tier="gold")
    a = _lead(db, project, "a@acme.test", acme, clock)
    b = _lead(db, project, "b@acme.test", acme, clock)
    tree = {"and": [TWO_HOT, {"field": "metadata.tier", "op": "eq", "value": "gold"}]}
    segment_id = _account_segment(db, project, tree, clock)
    worker.drain()
    assert _check(db, project, segment_id, clock) == set()

    with db.begin() as conn:  # a lead write moves its account in
        leads.update_lead(conn, project, a, {"engagement_level": "Hot"}, clock)
        leads.update_lead(conn, project, b, {"engagement_level": "Hot"}, clock)
    worker.drain()
    assert _check(db, project, segment_id, clock) == {acme}
    assert _history(db, segment_id) == [(acme, "entered", "lead_write", 1)]

    with db.begin() as conn:  # an account write moves it out
        accounts.update_account(conn, project, acme, {"metadata": {"tier": "silver"}}, clock)
    worker.drain()
    assert _check(db, project, segment_id, clock) == set()
    assert _history(db, segment_id)[-1] == (acme, "exited", "account_write", 1)

    with db.begin() as conn:  # back in; then a lead moves to Globex: Acme has one hot lead
        accounts.update_account(conn, project, acme, {"metadata": {"tier": "gold"}}, clock)
    worker.drain()
    assert _check(db, project, segment_id, clock) == {acme}
    with db.begin() as conn:
        leads.update_lead(conn, project, b, {"account_id": globex}, clock)
    worker.drain()
    assert _check(db, project, segment_id, clock) == set()

    # A new hot lead of Globex brings it in; deleting it takes Globex out again.
    c = _lead(db, project, "c@globex.test", globex, clock)
    with db.begin() as conn:
        leads.update_lead(conn, project, c, {"engagement_level": "Hot"}, clock)
    worker.drain()
    assert _check(db, project, segment_id, clock) == {globex}
    with db.begin() as conn:
        leads.delete_lead(conn, project, c, clock)
    worker.drain()
    assert _check(db, project, segment_id, clock) == set()
    assert _history(db, segment_id)[-1][1:3] == ("exited", "lead_write")


def test_account_segment_follows_events_edits_new_accounts_and_time(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    worker = Worker(db, clock)
    acme = _account(db, project, "Acme", clock)
    a = _lead(db, project, "a@acme.test", acme, clock)
    visited = {"leads": {"event": "page_view", "within_days": 7}, "min_count": 1}
    segment_id = _account_segment(db, project, visited, clock)
    worker.drain()
    assert _check(db, project, segment_id, clock) == set()

    with db.begin() as conn:
        event = NewEvent(a, "page_view", clock.now(), {})
        record_events(conn, project, [event], clock.now())
    worker.drain()
    assert _check(db, project, segment_id, clock) == {acme}
    assert _history(db, segment_id)[-1] == (acme, "entered", "event", 1)

    clock.advance(timedelta(days=8))  # the visit leaves the window: the sweep takes Acme out
    worker.sweep_time()
    assert _check(db, project, segment_id, clock) == set()
    assert _history(db, segment_id)[-1] == (acme, "exited", "time", 1)

    # An edit is a new version, synced in full; a new account is evaluated on creation.
    with db.begin() as conn:
        edit = {"filter": {"field": "name", "op": "contains", "value": "Ini"}}
        segments.update_segment(conn, project, _owner(db, project), segment_id, edit, clock)
    worker.drain()
    initech = _account(db, project, "Initech", clock)
    worker.drain()
    assert _check(db, project, segment_id, clock) == {initech}
    assert _history(db, segment_id)[-1] == (initech, "entered", "account_write", 2)

    # Inactive: frozen, as a lead segment's membership is.
    with db.begin() as conn:
        segments.update_segment(
            conn, project, _owner(db, project), segment_id, {"active": False}, clock
        )
    _account(db, project, "Initech Two", clock)
    worker.drain()
    assert _members(db, project, segment_id) == {initech}


def test_bulk_delete_and_import_moves_reach_account_segments(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    worker = Worker(db, clock)
    acme = _account(db, project, "Acme", clock)
    other = _account(db, project, "Other", clock)
    for email in ("a@acme.test", "b@acme.test"):
        _lead(db, project, email, acme, clock)
    one_lead = {"leads": {"field": "email", "op": "is_not_null"}, "min_count": 1, "max_count": 1}
    segment_id = _account_segment(db, project, one_lead, clock)
    worker.drain()
    assert _check(db, project, segment_id, clock) == set()
    ids = _ids(db, project)
    with db.begin() as conn:  # an import moving b to Other: Acme has one lead, Other one
        record = prepare_lead(0, {"email": "b@acme.test", "account_id": other}, project)
        upsert(conn, project, [record], "update", clock.now())
    worker.drain()
    assert _check(db, project, segment_id, clock) == {acme, other}
    with db.begin() as conn:
        delete = bulk.ACTIONS["delete"]
        delete.apply(conn, project, {}, [ids["a@acme.test"]], clock.now(), "test")
    worker.drain()
    assert _check(db, project, segment_id, clock) == {other}


def _lead_members(db: Engine, project: Project, segment_id: int) -> set[int]:
    with db.connect() as conn:
        return membership.member_ids(conn, project, segment_id)


def _lead_segment_live(db: Engine, project: Project, segment_id: int, now: datetime) -> set[int]:
    with db.connect() as conn:
        row = segments.get_segment(conn, project, segment_id)
        tree = filtering.segment_tree(conn, project, segment_id, row.filter)
        found = conn.execute(
            sa.select(lead_table.c.id).where(
                lead_table.c.project_id == project.id,
                filtering.condition(conn, project, tree, now),
            )
        )
        return set(found.scalars())


def test_lead_segments_follow_the_account_segments_maintained_changes(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    """A lead segment reaching an account segment follows the accounts that enter or leave it
    where no write of its own leads says so: a fellow lead moving out of the account, a fellow
    lead deleted, and time passing inside the account segment."""
    worker = Worker(db, clock)
    acme = _account(db, project, "Acme", clock)
    globex = _account(db, project, "Globex", clock)
    a = _lead(db, project, "a@acme.test", acme, clock)
    b = _lead(db, project, "b@acme.test", acme, clock)
    c = _lead(db, project, "c@acme.test", acme, clock)
    with db.begin() as conn:
        for lead_id in (a, b, c):
            leads.update_lead(conn, project, lead_id, {"engagement_level": "Hot"}, clock)
    three_hot = _account_segment(db, project, {"leads": HOT, "min_count": 3}, clock)
    with db.begin() as conn:
        data = {"name": "Their leads", "filter": {"in_account_segment": three_hot}}
        theirs = segments.create_segment(conn, project, _owner(db, project), data, clock).id
    worker.drain()
    assert _lead_members(db, project, theirs) == {a, b, c}

    with db.begin() as conn:  # c moves to Globex: Acme has two hot leads left, and leaves
        leads.update_lead(conn, project, c, {"account_id": globex}, clock)
    worker.drain()
    assert _check(db, project, three_hot, clock) == set()
    assert _lead_members(db, project, theirs) == set()
    assert _lead_segment_live(db, project, theirs, clock.now()) == set()
    with db.begin() as conn:  # back, then deleted: the same again
        leads.update_lead(conn, project, c, {"account_id": acme}, clock)
    worker.drain()
    assert _lead_members(db, project, theirs) == {a, b, c}
    with db.begin() as conn:
        leads.delete_lead(conn, project, c, clock)
    worker.drain()
    assert _lead_members(db, project, theirs) == set()
    with db.connect() as conn:
        reasons = conn.execute(
            sa.select(membership_history.c.reason, membership_history.c.detail).where(
                membership_history.c.segment_id == theirs,
                membership_history.c.lead_id == a,
                membership_history.c.change == "exited",
            )
        ).all()
    assert (Reason.DEPENDENCY, f"account segment {three_hot}") in reasons

    # Time: Acme visited within 7 days; 8 days on, the sweep takes Acme and its leads out.
    with db.begin() as conn:
        edit = {"filter": {"leads": {"event": "page_view", "within_days": 7}}}
        segments.update_segment(conn, project, _owner(db, project), three_hot, edit, clock)
        record_events(conn, project, [NewEvent(a, "page_view", clock.now(), {})], clock.now())
    worker.drain()
    assert _lead_members(db, project, theirs) == {a, b}
    clock.advance(timedelta(days=8))
    worker.sweep_time()
    assert _check(db, project, three_hot, clock) == set()
    assert _lead_members(db, project, theirs) == set()
    assert _lead_segment_live(db, project, theirs, clock.now()) == set()


MOVES_WITH_TIME = [
    ({"field": "name", "op": "contains", "value": "Ini"}, False),
    (TWO_HOT, False),
    ({"not": {"leads": {"field": "status", "op": "eq", "value": "new"}}}, False),
    ({"leads": {"event": "page_view", "within_days": 7}}, True),
    ({"leads": {"field": "created_at", "op": "within_last", "value": 3}}, True),
    (
        {"or": [TWO_HOT, {"leads": {"field": "created_at", "op": "in_period", "value": "today"}}]},
        True,
    ),
]


@pytest.mark.parametrize(("tree", "moves"), MOVES_WITH_TIME)
def test_only_filters_time_can_move_are_swept_in_full(
    db: Engine, project: Project, clock: FrozenClock, tree: Any, moves: bool
) -> None:
    """The sweep re-evaluates an account segment only when time can change its answer; a static
    one is marked swept and keeps its members (writes maintain them)."""
    worker = Worker(db, clock)
    acme = _account(db, project, "Acme Inc", clock)
    _lead(db, project, "a@acme.test", acme, clock)
    segment_id = _account_segment(db, project, tree, clock)
    worker.drain()
    with db.connect() as conn:
        parsed = filtering.load(project, tree, "accounts")
        source = CachingSegmentSource(filtering.StoredSegments(conn, project.id))
        assert flips.account_tree_moves_with_time(parsed, project, source) is moves
    before = _members(db, project, segment_id)
    clock.advance(timedelta(days=1))
    worker.sweep_time()
    after = _members(db, project, segment_id)
    assert after == _live(db, project, segment_id, clock.now())
    if not moves:
        assert after == before
