"""A caught-up index holds exactly what a fresh build of the same moment holds: the catch-up
reads leads as a build does (columns, not rows) and must not drift from it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from segmint.index import ProjectIndex, loading
from segmint.index.columns import DenseColumn, DictionaryColumn
from segmint.index.feed import snapshot
from segmint.index.tables import NO_ROW, NOT_A_MEMBER, IdMap, _event_order
from segmint.index.vectors import MICROSECOND, micros
from segmint.projects import Project
from segmint.store.tables import leads, manual_members, segment_members, segments
from tests.filters.harness import LeadSpec, add_segment, insert_leads

PATHS = (("custom", ("plan",)), ("enrichment", ("company", "size")), ("enrichment", ("tech",)))
LATER = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _loaded(db: Engine, project: Project, index: ProjectIndex | None = None) -> ProjectIndex:
    """`index` caught up (or a new one built), with PATHS loaded."""
    with snapshot(db) as conn:
        if index is None:
            index = ProjectIndex(project.id)
            index.load(conn)
        else:
            index.catch_up(conn)
        for json_column, path in PATHS:
            if (json_column, path) not in index.leads.paths:
                loading.load_lead_path(conn, project.id, index.leads, json_column, path)
    return index


def _contents(index: ProjectIndex) -> dict[int, dict[str, Any]]:
    """Every live lead's values as the index holds them, by lead id."""
    table = index.leads
    contents: dict[int, dict[str, Any]] = {}
    for row in np.flatnonzero(table.alive.live):
        values: dict[str, Any] = {}
        for name, column in table.columns.items():
            if isinstance(column, DenseColumn):
                valid = column.valid.live[row]
                values[name] = column.values.live[row].item() if valid else None
            else:
                values[name] = column.raw(row)
        for key, path_column in table.paths.items():
            values[str(key)] = path_column.raw(row)
        values["account"] = int(index.accounts.ids.ids.live[table.account_rows.live[row]])
        contents[int(table.ids.ids.live[row])] = values
    return contents


def test_a_caught_up_index_holds_what_a_build_holds(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        first, second, third = insert_leads(
            conn,
            project.id,
            [
                LeadSpec(
                    {
                        "first_name": "Ada",
                        "tags": ["vip"],
                        "custom": {"plan": "pro"},
                        "enrichment": {"company": {"size": 10}, "tech": ["go", "rust"]},
                        "engagement_score": 5,
                    },
                    account={"name": "Big"},
                ),
                LeadSpec({"last_name": "Lovelace", "custom": {"plan": 3}}),
                LeadSpec({"status": "new", "last_contacted_at": LATER}),
            ],
        )
    index = _loaded(db, project)
    with db.begin() as conn:  # new leads, changed ones and a deleted one, in one transaction
        insert_leads(
            conn,
            project.id,
            [
                LeadSpec(
                    {"tags": ["vip", "new"], "custom": {"plan": None}, "enrichment": {}},
                    account={"name": "Small"},
                ),
                LeadSpec({"enrichment": {"company": {"size": "10"}, "tech": []}}),
            ],
        )
        conn.execute(
            leads.update()
            .where(leads.c.id == first)
            .values(
                tags=["vip", "old"],
                enrichment={},
                engagement_score=7.5,
                first_name=None,
                account_id=None,
                custom={"plan": ["a", "b"]},
            )
        )
        conn.execute(
            leads.update()
            .where(leads.c.id == third)
            .values(last_contacted_at=None, enrichment={"company": {"size": 11}})
        )
        conn.execute(leads.delete().where(leads.c.id == second))
    index = _loaded(db, project, index)
    assert _contents(index) == _contents(_loaded(db, project))
    with db.begin() as conn:  # leads the catch-up appended, changed in turn
        conn.execute(
            leads.update()
            .where(leads.c.id > third)
            .values(tags=[], custom={"plan": "free"}, last_activity_at=LATER)
        )
    index = _loaded(db, project, index)
    assert _contents(index) == _contents(_loaded(db, project))


def test_ids_map_to_their_rows_whatever_order_they_come_in() -> None:
    ids = IdMap()
    held: list[int] = []
    rng = random.Random(7)
    for size in (5, 1, 40, 3, 3, 200, 1, 7, 2, 30):
        if size % 2:  # past every id held, as new leads come
            batch = [max(held, default=0) + rng.randrange(1, 5) * (i + 1) for i in range(size)]
        else:  # anywhere, as a transaction that committed late brings them
            batch = [rng.randrange(1, 10_000) for _ in range(size)]
        batch = [i for i in dict.fromkeys(batch) if i not in set(held)]
        ids.append(batch)
        held.extend(batch)
        probe = [*held, 0, 10**9, *range(1, 50)]
        expected = [held.index(i) if i in held else NO_ROW for i in probe]
        assert ids.rows_of(probe).tolist() == expected
    assert ids.rows_of([]).tolist() == []


def test_a_bulk_lookup_finds_the_rows_a_search_finds() -> None:
    """Many ids at once (a build's events) are looked up in a table by id when ids are dense."""
    rng = np.random.default_rng(3)
    for held in (rng.permutation(np.arange(1, 2_000)), rng.choice(10**9, 500, replace=False)):
        ids = IdMap()
        ids.append(held.tolist())
        probe = rng.choice(np.concatenate((held, rng.integers(-5, 3_000, 500))), 5_000)
        position = {int(i): row for row, i in enumerate(held)}
        assert ids.rows_of(probe).tolist() == [position.get(int(i), NO_ROW) for i in probe]


def test_events_are_ordered_by_type_time_and_id() -> None:
    rng = np.random.default_rng(5)
    ids = rng.permutation(np.arange(10_000, dtype=np.int64))
    types = rng.integers(0, 4, 10_000).astype(np.int32)
    at = rng.integers(0, 50, 10_000).astype(np.int64) * 1_000_000  # many ties in time
    for order in (np.argsort(ids), np.arange(10_000)):  # read in id order, or not
        expected = np.lexsort((ids[order], at[order], types[order]))
        got = _event_order(ids[order], types[order], at[order])
        assert got.tolist() == expected.tolist()
    far = np.array([-(2**62), 2**62], np.int64)  # times too far apart to pack in one key
    assert _event_order(np.array([2, 1]), np.array([1, 0], np.int32), far).tolist() == [1, 0]


def test_leads_given_as_rows_are_held_as_columns_hold_them() -> None:
    """`LeadTable.apply` takes rows as the store types them (tests and tools build with it)."""
    index = ProjectIndex(1)
    index.leads.paths[("custom", ("plan",))] = DictionaryColumn()
    row = {
        "id": 7,
        "account_id": None,
        "first_name": "Ada",
        "tags": ["vip"],
        "custom": {"plan": "pro"},
        "enrichment": {"size": 1},
        "engagement_score": 2.5,
        "created_at": LATER,
    }
    index.leads.apply([row])
    index.leads.apply([{**row, "first_name": None, "custom": {}}, {**row, "id": 8}])
    held = _contents(index)
    assert held[7]["name"] == " " and held[8]["name"] == "Ada "
    assert held[7]["enrichment_status"] == "enriched"
    assert held[7]["tags"] == ["vip"] and held[7]["engagement_score"] == 2.5
    assert held[7]["created_at"] == (LATER - datetime(1970, 1, 1, tzinfo=UTC)) // MICROSECOND
    assert held[7]["('custom', ('plan',))"] is None and held[8]["('custom', ('plan',))"] == "pro"
    assert held[7]["last_contacted_at"] is None and held[7]["account"] == 0


MANUAL_KEYS = [(kind, segment) for kind in ("include", "exclude") for segment in (1, 2)]


def _with_manual(db: Engine, project: Project, index: ProjectIndex | None = None) -> ProjectIndex:
    """`index` caught up (or a new one built), with the manual members of segments 1 and 2."""
    with snapshot(db) as conn:
        if index is None:
            index = ProjectIndex(project.id)
            index.load(conn)
        else:
            index.catch_up(conn)
        for key in MANUAL_KEYS:
            if not index.memberships.has(key):
                loading.load_members(conn, project.id, index.memberships, key)
    return index


def _manual(index: ProjectIndex) -> dict[tuple[str, int], set[int]]:
    alive = index.leads.alive.live
    ids = index.leads.ids.ids.live
    return {
        key: {int(i) for i in ids[np.flatnonzero(index.memberships.mask(key, index.leads) & alive)]}
        for key in MANUAL_KEYS
    }


def test_manual_members_caught_up_hold_what_a_build_holds(db: Engine, project: Project) -> None:
    """Includes and excludes written, turned around, taken off, and gone with their lead or
    their segment: the change feed brings a built index to what a new build reads."""
    with db.begin() as conn:
        a, b, c, d = insert_leads(conn, project.id, [LeadSpec({"first_name": n}) for n in "abcd"])
        add_segment(conn, project.id, 1, {"field": "status", "op": "is_null"})
        add_segment(conn, project.id, 2, {"field": "status", "op": "is_null"})
        conn.execute(
            manual_members.insert(),
            [
                {"project_id": project.id, "segment_id": s, "lead_id": lead, "kind": k,
                 "added_at": LATER}
                for s, lead, k in ((1, a, "include"), (1, b, "exclude"), (2, c, "include"),
                                   (2, d, "include"))
            ],
        )  # fmt: skip
    index = _with_manual(db, project)
    assert _manual(index)[("include", 1)] == {a}
    m = manual_members.c
    with db.begin() as conn:
        conn.execute(manual_members.update().where(m.lead_id == b).values(kind="include"))
        conn.execute(manual_members.delete().where(m.lead_id == a))
        conn.execute(
            manual_members.insert().values(
                project_id=project.id, segment_id=1, lead_id=d, kind="exclude", added_at=LATER
            )
        )
        conn.execute(segments.delete().where(segments.c.id == 2))  # its rows go with it
        conn.execute(leads.delete().where(leads.c.id == c))
    caught_up = _manual(_with_manual(db, project, index))
    assert caught_up == {
        ("include", 1): {b},
        ("include", 2): set(),
        ("exclude", 1): {d},
        ("exclude", 2): set(),
    }
    assert caught_up == _manual(_with_manual(db, project))


def _with_entered(db: Engine, project: Project, index: ProjectIndex | None = None) -> ProjectIndex:
    """`index` caught up (or a new one built), with segments 1 and 2's entered_at loaded."""
    index = _loaded(db, project, index)
    with snapshot(db) as conn:
        for segment_id in (1, 2):
            if not index.memberships.has_entered(segment_id):
                loading.load_entered(conn, project.id, index.memberships, segment_id)
    return index


def _entered(index: ProjectIndex) -> dict[int, dict[int, int]]:
    """Per segment, each member's entered_at (microseconds) as the index holds it."""
    ids = index.leads.ids.ids.live
    held: dict[int, dict[int, int]] = {}
    for segment_id in (1, 2):
        at = index.memberships.entered_at(segment_id)
        alive = index.leads.alive.live
        members = np.flatnonzero((at != NOT_A_MEMBER) & alive[: len(at)])
        held[segment_id] = {int(ids[row]): int(at[row]) for row in members}
    return held


def test_entered_at_caught_up_holds_what_a_build_holds(db: Engine, project: Project) -> None:
    """Time in segment: memberships entered, left, re-entered later (a new entered_at), and
    gone with their lead or segment, and a lead added since: the feed's segment_member changes
    bring a built index to what a new build reads, to the microsecond."""
    m = segment_members.c
    with db.begin() as conn:
        a, b, c = insert_leads(conn, project.id, [LeadSpec({"first_name": n}) for n in "abc"])
        add_segment(conn, project.id, 1, {"field": "status", "op": "is_null"})
        add_segment(conn, project.id, 2, {"field": "status", "op": "is_null"})
        conn.execute(
            segment_members.insert(),
            [
                {"project_id": project.id, "segment_id": s, "lead_id": lead, "entered_at": at}
                for s, lead, at in ((1, a, LATER), (1, b, LATER), (2, c, LATER))
            ],
        )
    index = _with_entered(db, project)
    assert _entered(index)[1] == {a: micros(LATER), b: micros(LATER)}
    again = LATER + timedelta(days=3, microseconds=7)
    with db.begin() as conn:
        conn.execute(segment_members.delete().where(m.segment_id == 1, m.lead_id == a))
        conn.execute(segment_members.update().where(m.lead_id == b).values(entered_at=again))
        (d,) = insert_leads(conn, project.id, [LeadSpec({"first_name": "d"})])
        conn.execute(
            segment_members.insert(),
            [
                {"project_id": project.id, "segment_id": 1, "lead_id": d, "entered_at": again},
                {"project_id": project.id, "segment_id": 2, "lead_id": a, "entered_at": again},
            ],
        )
        conn.execute(leads.delete().where(leads.c.id == c))
    caught_up = _entered(_with_entered(db, project, index))
    assert caught_up == {1: {b: micros(again), d: micros(again)}, 2: {a: micros(again)}}
    assert caught_up == _entered(_with_entered(db, project))
    with db.begin() as conn:
        conn.execute(segments.delete().where(segments.c.id == 2))
    assert _entered(_with_entered(db, project, index))[2] == {}
