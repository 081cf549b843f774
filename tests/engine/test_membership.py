"""Maintained membership and history follow writes, events, edits and lists, on both databases."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.auth import Principal
from segmint.clock import FrozenClock
from segmint.engine import filtering, leads, lists, manual, membership, segments
from segmint.engine.dependencies import read_set
from segmint.ingest import ingest_events, upsert_leads
from segmint.model import Role
from segmint.projects import Project, add_custom_field, get_project_by_id
from segmint.store.tables import membership_history, users
from segmint.worker.loop import Worker

NEW = {"field": "status", "op": "eq", "value": "new"}


def _owner(db: Engine, project: Project) -> Principal:
    with db.connect() as conn:
        user_id = conn.execute(sa.select(users.c.id)).scalar_one()
    return Principal(user_id, project.organization_id, "owner@acme.test", Role.OWNER, None)


def _segment(db: Engine, project: Project, tree: Any, clock: FrozenClock, **extra: Any) -> int:
    with db.begin() as conn:
        data = {"name": "S", "filter": tree, **extra}
        return int(segments.create_segment(conn, project, _owner(db, project), data, clock).id)


def _history(db: Engine, segment_id: int) -> list[tuple[int, str, str, int]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(
                membership_history.c.lead_id,
                membership_history.c.change,
                membership_history.c.reason,
                membership_history.c.segment_version,
            )
            .where(membership_history.c.segment_id == segment_id)
            .order_by(membership_history.c.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _live(db: Engine, project: Project, segment_id: int, clock: FrozenClock) -> set[int]:
    with db.connect() as conn:
        row = segments.get_segment(conn, project, segment_id)
        where = segments.segment_condition(conn, project, row, clock.now())
        from segmint.store.tables import leads as leads_table

        ids = conn.execute(
            sa.select(leads_table.c.id).where(leads_table.c.project_id == project.id, where)
        ).scalars()
        return set(ids)


def _members(db: Engine, project: Project, segment_id: int) -> set[int]:
    with db.connect() as conn:
        return membership.member_ids(conn, project, segment_id)


def _ids(db: Engine, project: Project) -> dict[str, int]:
    from segmint.store.tables import leads as leads_table

    with db.connect() as conn:
        rows = conn.execute(
            sa.select(leads_table.c.email, leads_table.c.id).where(
                leads_table.c.project_id == project.id
            )
        )
        return {email: lead_id for email, lead_id in rows}


def test_writes_events_and_edits_move_leads_in_and_out(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    worker = Worker(db, clock)
    upsert_leads(
        db,
        project,
        enumerate(
            [{"email": "a@x.test", "status": "new"}, {"email": "b@x.test", "status": "contacted"}]
        ),
        clock=clock,
    )
    segment_id = _segment(db, project, NEW, clock)
    worker.drain()
    ids = _ids(db, project)
    assert _members(db, project, segment_id) == {ids["a@x.test"]}
    assert _history(db, segment_id) == [(ids["a@x.test"], "entered", "created", 1)]

    clock.advance(timedelta(minutes=1))
    with db.begin() as conn:
        leads.update_lead(conn, project, ids["a@x.test"], {"status": "lost"}, clock)
    worker.drain()
    assert _members(db, project, segment_id) == set()
    assert _history(db, segment_id)[-1] == (ids["a@x.test"], "exited", "lead_write", 1)

    with db.begin() as conn:
        segments.update_segment(
            conn,
            project,
            _owner(db, project),
            segment_id,
            {"filter": {"field": "status", "op": "in", "value": ["lost", "contacted"]}},
            clock,
        )
    worker.drain()
    assert _members(db, project, segment_id) == set(ids.values())
    assert {(c, r, v) for _, c, r, v in _history(db, segment_id)[-2:]} == {
        ("entered", "filter_edit", 2)
    }

    trial = _segment(db, project, {"event": "trial_signup"}, clock)
    worker.drain()
    ingest_events(db, project, [(0, {"email": "b@x.test", "type": "trial_signup"})], clock=clock)
    worker.drain()
    assert _members(db, project, trial) == {ids["b@x.test"]}
    assert _history(db, trial) == [(ids["b@x.test"], "entered", "event", 1)]

    with db.begin() as conn:
        leads.delete_lead(conn, project, ids["b@x.test"], clock)
    assert _history(db, trial)[-1] == (ids["b@x.test"], "exited", "lead_write", 1)


def test_inactive_segments_freeze_and_catch_up(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    worker = Worker(db, clock)
    upsert_leads(db, project, enumerate([{"email": "a@x.test", "status": "new"}]), clock=clock)
    segment_id = _segment(db, project, NEW, clock)
    worker.drain()
    owner = _owner(db, project)
    with db.begin() as conn:
        segments.update_segment(conn, project, owner, segment_id, {"active": False}, clock)
    upsert_leads(db, project, enumerate([{"email": "b@x.test", "status": "new"}]), clock=clock)
    worker.drain()
    ids = _ids(db, project)
    assert _members(db, project, segment_id) == {ids["a@x.test"]}  # frozen
    with db.begin() as conn:
        segments.update_segment(conn, project, owner, segment_id, {"active": True}, clock)
    worker.drain()
    assert _members(db, project, segment_id) == {ids["a@x.test"], ids["b@x.test"]}
    assert _history(db, segment_id)[-1] == (ids["b@x.test"], "entered", "activation", 1)


def test_deleting_a_lead_is_recorded_in_frozen_segments_too(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    """The frozen membership loses a deleted lead (the row cascades): history says so, or it
    would no longer replay to the membership."""
    worker = Worker(db, clock)
    upsert_leads(db, project, enumerate([{"email": "a@x.test", "status": "new"}]), clock=clock)
    segment_id = _segment(db, project, NEW, clock)
    worker.drain()
    with db.begin() as conn:
        segments.update_segment(
            conn, project, _owner(db, project), segment_id, {"active": False}, clock
        )
    lead_id = _ids(db, project)["a@x.test"]
    with db.begin() as conn:
        leads.delete_lead(conn, project, lead_id, clock)
    assert _members(db, project, segment_id) == set()
    assert _history(db, segment_id) == [
        (lead_id, "entered", "created", 1),
        (lead_id, "exited", "lead_write", 1),
    ]


def test_list_and_segment_references_propagate(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    worker = Worker(db, clock)
    upsert_leads(db, project, enumerate([{"email": "a@x.test", "status": "new"}]), clock=clock)
    ids = _ids(db, project)
    with db.begin() as conn:
        list_id = lists.create_list(conn, project, {"name": "VIP"}, None, clock)
    in_list = _segment(db, project, {"in_list": list_id}, clock)
    base = _segment(db, project, NEW, clock)
    derived = _segment(db, project, {"not": {"in_segment": base}}, clock)
    worker.drain()
    assert _members(db, project, in_list) == set() and _members(db, project, derived) == set()
    with db.begin() as conn:
        lists.add_members(conn, project, list_id, [ids["a@x.test"]], clock)
        segments.update_segment(
            conn,
            project,
            _owner(db, project),
            base,
            {"filter": {"field": "status", "op": "eq", "value": "lost"}},
            clock,
        )
    worker.drain()
    assert _members(db, project, in_list) == {ids["a@x.test"]}
    assert _members(db, project, derived) == {ids["a@x.test"]}
    assert _history(db, derived)[-1] == (ids["a@x.test"], "entered", "dependency", 1)


def test_read_sets_skip_unrelated_writes(project: Project) -> None:
    tree = filtering.parse_filter(
        {
            "and": [
                NEW,
                {"event": "page_view", "within_days": 30},
                {"field": "name", "op": "contains", "value": "a"},
            ]
        },
        project,
    )
    reads = read_set(tree, lambda _id: None)
    assert not reads.touched_by({"phone"}, set())
    assert reads.touched_by({"status"}, set())
    assert reads.touched_by({"last_activity_at"}, {"page_view"})
    assert reads.touched_by({"last_name"}, set())
    assert reads.touched_by(None, set()) and reads.time_dependent


def test_distinct_event_types_read_their_types_or_every_event(project: Project) -> None:
    listed = read_set(
        filtering.parse_filter({"distinct_events": 2, "types": ["demo", "webinar"]}, project),
        lambda _id: None,
    )
    assert listed.touched_by(set(), {"demo"}) and not listed.touched_by(set(), {"page_view"})
    assert not listed.time_dependent
    every = read_set(
        filtering.parse_filter({"distinct_events": 2, "within_days": 7}, project),
        lambda _id: None,
    )
    assert every.touched_by(set(), {"anything"}) and not every.touched_by({"phone"}, set())
    assert every.time_dependent
    band = {"event": "purchase", "older_than_days": 30}
    assert read_set(filtering.parse_filter(band, project), lambda _id: None).time_dependent


def test_an_event_of_a_new_type_moves_a_lead_into_distinct_event_types(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    worker = Worker(db, clock)
    upsert_leads(db, project, enumerate([{"email": "a@x.test"}]), clock=clock)
    segment_id = _segment(db, project, {"distinct_events": 2, "within_days": 7}, clock)
    ingest_events(db, project, [(0, {"email": "a@x.test", "type": "webinar"})], clock=clock)
    worker.drain()
    assert _members(db, project, segment_id) == set()
    ingest_events(db, project, [(0, {"email": "a@x.test", "type": "demo"})], clock=clock)
    worker.drain()
    lead_id = _ids(db, project)["a@x.test"]
    assert _members(db, project, segment_id) == {lead_id}
    assert _history(db, segment_id) == [(lead_id, "entered", "event", 1)]


def test_a_sequence_reads_its_steps_types_and_the_clock_only_with_since_days(
    project: Project,
) -> None:
    steps = [{"event": "signup"}, {"event": "api_call"}]
    tree = filtering.parse_filter({"sequence": steps, "within_days": 3}, project)
    reads = read_set(tree, lambda _id: None)
    assert reads.event_types == {"signup", "api_call"} and not reads.time_dependent
    assert reads.touched_by(set(), {"api_call"}) and not reads.touched_by({"status"}, {"x"})
    since = filtering.parse_filter({"sequence": steps, "since_days": 7}, project)
    assert read_set(since, lambda _id: None).time_dependent
    excluding = {"sequence": steps, "within_days": 3, "not_between": {"event": "cancel"}}
    reads = read_set(filtering.parse_filter(excluding, project), lambda _id: None)
    assert reads.event_types == {"signup", "api_call", "cancel"} and not reads.time_dependent


def test_maintained_membership_equals_live_after_random_writes(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    rng = random.Random(7)
    worker = Worker(db, clock)
    statuses = list(project.statuses)
    emails = [f"l{i}@x.test" for i in range(30)]
    upsert_leads(
        db,
        project,
        enumerate({"email": e, "status": rng.choice(statuses)} for e in emails),
        clock=clock,
    )
    trees = [
        NEW,
        {"or": [NEW, {"event": "page_view", "min_count": 2}]},
        {
            "and": [
                {"field": "tags", "op": "has_any", "value": ["vip"]},
                {"not": {"field": "status", "op": "eq", "value": "lost"}},
            ]
        },
        {"event": "form_submit", "performed": False},
        {"sequence": [{"event": "page_view"}, {"event": "form_submit"}]},
        # an arriving form_submit can end this match: the excluded type is read too
        {
            "sequence": [{"event": "page_view"}, {"event": "page_view"}],
            "not_between": {"event": "form_submit"},
        },
    ]
    segment_ids = [_segment(db, project, t, clock) for t in trees]
    # One segment reads another (its manual members included) through in_segment.
    segment_ids.append(_segment(db, project, {"in_segment": segment_ids[0]}, clock))
    owner = _owner(db, project)
    for step in range(60):
        clock.advance(timedelta(seconds=30))
        action = rng.randrange(6)
        if action >= 4:  # leads included or excluded by hand, or taken off again
            chosen = rng.sample(sorted(_ids(db, project).values()), rng.randint(1, 3))
            with db.begin() as conn:
                change = manual.add if action == 4 else manual.remove
                kind = rng.choice([manual.INCLUDE, manual.EXCLUDE])
                change(conn, project, owner, rng.choice(segment_ids), kind, chosen, clock)
            if step % 3 == 0:
                worker.drain()
                _assert_consistent(db, project, segment_ids, clock)
            continue
        if action == 0:
            records = [
                {
                    "email": rng.choice(emails),
                    "status": rng.choice(statuses),
                    "tags": rng.choice([[], ["vip"], ["vip", "x"]]),
                }
                for _ in range(3)
            ]
            upsert_leads(db, project, enumerate(records), clock=clock)
        elif action == 1:
            events = [
                (0, {"email": rng.choice(emails), "type": rng.choice(["page_view", "form_submit"])})
                for _ in range(4)
            ]
            ingest_events(db, project, events, clock=clock)
        elif action == 2:
            with db.begin() as conn:
                segments.update_segment(
                    conn,
                    project,
                    owner,
                    rng.choice(segment_ids),
                    {"active": rng.random() < 0.7},
                    clock,
                )
        else:
            with db.begin() as conn:
                segments.update_segment(
                    conn,
                    project,
                    owner,
                    rng.choice(segment_ids),
                    {"filter": rng.choice(trees)},
                    clock,
                )
        if step % 3 == 0:
            worker.drain()
            _assert_consistent(db, project, segment_ids, clock)
    worker.drain()
    _assert_consistent(db, project, segment_ids, clock)
    reasons = {r for s in segment_ids for _, _, r, _ in _history(db, s)}
    assert {"manual", "dependency"} <= reasons  # the walk did move leads by hand


def _assert_consistent(
    db: Engine, project: Project, segment_ids: list[int], clock: FrozenClock
) -> None:
    for segment_id in segment_ids:
        with db.connect() as conn:
            active = segments.get_segment(conn, project, segment_id).active
        if active:
            assert _members(db, project, segment_id) == _live(db, project, segment_id, clock)
        with db.connect() as conn:  # the live count (the index's, when it is on) agrees too
            row = segments.get_segment(conn, project, segment_id)
            counted = segments.count(conn, project, row, clock).total
        assert counted == len(_members(db, project, segment_id))
        replayed: set[int] = set()
        for lead_id, change, _, _ in _history(db, segment_id):
            assert (change == "entered") == (lead_id not in replayed), "history out of order"
            (replayed.add if change == "entered" else replayed.discard)(lead_id)
        assert replayed == _members(db, project, segment_id)


def test_an_account_change_moves_its_leads(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    from segmint.engine.accounts import create_account, update_account

    worker = Worker(db, clock)
    with db.begin() as conn:
        account_id = int(create_account(conn, project, {"name": "Initech", "metadata": {}}).id)
    upsert_leads(
        db, project, enumerate([{"email": "a@x.test", "account_id": account_id}]), clock=clock
    )
    segment_id = _segment(
        db, project, {"field": "account.name", "op": "eq", "value": "Globex"}, clock
    )
    worker.drain()
    assert _members(db, project, segment_id) == set()

    with db.begin() as conn:
        update_account(conn, project, account_id, {"name": "Globex"}, clock)
    worker.drain()

    lead_id = _ids(db, project)["a@x.test"]
    assert _members(db, project, segment_id) == {lead_id}
    assert _history(db, segment_id)[-1] == (lead_id, "entered", "lead_write", 1)


def test_a_sync_reports_how_many_entered_and_left(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    upsert_leads(
        db,
        project,
        enumerate([{"email": f"l{i}@x.test", "status": "new"} for i in range(3)]),
        clock=clock,
    )
    segment_id = _segment(db, project, NEW, clock)
    with db.begin() as conn:
        assert membership.sync(conn, project, segment_id, clock.now(), "created") == (
            membership.Changes(entered=3, exited=0)
        )
    ids = sorted(_ids(db, project).values())
    with db.begin() as conn:
        leads.update_lead(conn, project, ids[0], {"status": "lost"}, clock)
        changes = membership.sync(conn, project, segment_id, clock.now(), "lead_write", None, ids)
    assert changes == membership.Changes(entered=0, exited=1)
    with db.begin() as conn:  # nothing left to do
        changes = membership.sync(conn, project, segment_id, clock.now(), "lead_write", None, ids)
    assert changes == membership.Changes()


def test_keys_postgresql_arrays_read_specially_agree_everywhere(
    db: Engine, project: Project, clock: FrozenClock
) -> None:
    """`NULL`/`null` are null elements of an unquoted text[], and PostgreSQL trims `a\n` to `a`:
    the maintained members, a live count and explain all find exactly the lead with that key."""
    with db.begin() as conn:
        add_custom_field(conn, project.id, "null")
        project = get_project_by_id(conn, project.id)
    holders = {
        "enrichment.NULL": {"enrichment": {"NULL": "x"}},
        "enrichment.null.a": {"enrichment": {"null": {"a": "x"}}},
        "custom.null": {"custom": {"null": "x"}},
        "enrichment.a": {"enrichment": {"a": "x"}},
    }
    records = [{"email": f"{i}@x.test", **fields} for i, fields in enumerate(holders.values())]
    decoy = {"a\n": "x", " a": "x", "a.b": "x", "Null": "x", "null": "x"}
    records.append({"email": "decoy@x.test", "enrichment": decoy})
    upsert_leads(db, project, enumerate(records), clock=clock)
    ids = _ids(db, project)
    trees = {name: {"field": name, "op": "eq", "value": "x"} for name in holders}
    segment_ids = {name: _segment(db, project, tree, clock) for name, tree in trees.items()}
    Worker(db, clock).drain()
    for index, name in enumerate(holders):
        holder = ids[f"{index}@x.test"]
        assert _members(db, project, segment_ids[name]) == {holder}, name
        assert _live(db, project, segment_ids[name], clock) == {holder}, name
        with db.connect() as conn:
            node = filtering.validate(conn, project, trees[name], reader=None)
            why = {
                i
                for i in ids.values()
                if filtering.explain_lead(conn, project, node, i, clock.now())["result"]
            }
        assert why == {holder}, name


def test_one_pass_writes_many_segments_moves_in_chunks(
    db: Engine, project: Project, clock: FrozenClock, monkeypatch: Any
) -> None:
    """A pass unites its segments' moves in statements of UNION_PARTS selects (SQLite allows
    500): with two a statement, five moves take three rounds, and each lands once."""
    monkeypatch.setattr(membership, "UNION_PARTS", 2)
    records = [{"email": f"l{i}@x.test", "status": "new"} for i in range(3)]
    upsert_leads(db, project, enumerate(records), clock=clock)
    new_ones = [_segment(db, project, NEW, clock) for _ in range(3)]
    lost = _segment(db, project, {"field": "status", "op": "eq", "value": "lost"}, clock)
    worker = Worker(db, clock)
    worker.drain()
    ids = _ids(db, project)
    moved = [{"email": "l0@x.test", "status": "lost"}, {"email": "l9@x.test", "status": "new"}]
    upsert_leads(db, project, enumerate(moved), clock=clock)
    worker.drain()

    ids = _ids(db, project)
    for segment_id in [*new_ones, lost]:
        assert _members(db, project, segment_id) == _live(db, project, segment_id, clock)
    for segment_id in new_ones:
        changes = [(lead_id, change) for lead_id, change, _, _ in _history(db, segment_id)]
        assert changes[-2:] == [(ids["l9@x.test"], "entered"), (ids["l0@x.test"], "exited")]
    assert [change for _, change, _, _ in _history(db, lost)] == ["entered"]
