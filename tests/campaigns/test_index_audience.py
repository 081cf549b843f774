"""Campaign audiences, analytics' current numbers and the worker's membership evaluation give the
same answers through the columnar index as through SQL, on random data, on both databases: the
same engine answers with the index attached, then with it detached."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import index
from segmint.auth import Principal
from segmint.campaigns import audience, definitions
from segmint.campaigns.definitions import Resend
from segmint.clock import FrozenClock
from segmint.engine import analytics, answering, filtering, membership
from segmint.engine import lists as lists_engine
from segmint.engine import segments as segments_engine
from segmint.ingest import ingest_events
from segmint.projects import Project
from segmint.store.tables import campaign_recipients, leads, segment_members
from segmint.worker.loop import Worker
from tests.campaigns.conftest import add_campaign, add_leads, add_segment, run_now

T = TypeVar("T")
STATUSES = ["new", "contacted", "qualified", "lost"]
TREES: list[dict[str, Any]] = [
    {"field": "status", "op": "in", "value": ["new", "contacted"]},
    {"field": "company", "op": "contains", "value": "co"},
    {"event": "page_view", "min_count": 2},
    {"field": "tags", "op": "has_any", "value": ["vip"]},
    {"not": {"field": "engagement_score", "op": "gt", "value": 4.5}},
]


@pytest.fixture
def scene(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock
) -> Iterator[dict[str, Any]]:
    rng = random.Random(5)
    records = [
        {
            "email": f"l{i}@x.test" if rng.random() < 0.85 else "",
            "first_name": f"L{i}",
            "status": rng.choice([*STATUSES, " Qualified "]),
            "company": rng.choice(["Acme Co", "Cobalt", "Zed", None, "ÇO"]),
            "tags": rng.choice([[], ["vip"], ["x", "VIP"]]),
            "engagement_score": rng.choice([0, 0.1, 0.2, 1.7, 4.5, 9.3]),
        }
        for i in range(60)
    ]
    ids = list(add_leads(db, project, clock, records).values())
    events = [
        (n, {"lead_id": rng.choice(ids), "type": rng.choice(["page_view", "unsubscribed"])})
        for n in range(50)
    ]
    ingest_events(db, project, events, clock=clock)
    segment_ids = [add_segment(db, project, owner, f"S{n}", t, clock) for n, t in enumerate(TREES)]
    with db.begin() as conn:
        vip = lists_engine.create_list(conn, project, {"name": "VIP"}, owner.user_id, clock)
        lists_engine.add_members(conn, project, vip, rng.sample(ids, 20), clock)
        # a frozen segment: its stored members, not its filter, are its audience
        segments_engine.update_segment(
            conn, project, owner, segment_ids[3], {"active": False}, clock
        )
    Worker(db, clock).drain()
    clock.advance(timedelta(minutes=5))
    yield {"ids": ids, "segments": segment_ids, "list": vip}
    index.detach(db)


def _both(db: Engine, answer: Callable[[], T]) -> tuple[T, T]:
    """`answer` with the index attached (it must be asked and ready), then through SQL."""
    indexes = index.attach(db, index.Settings(background=False))
    assert indexes is not None
    with_index = answer()
    assert indexes.status()["projects"], "the index was never asked"
    assert all(p["state"] == "ready" for p in indexes.status()["projects"].values())
    index.detach(db)
    return with_index, answer()


def test_campaign_previews_agree(
    db: Engine, project: Project, owner: Principal, clock: FrozenClock, scene: dict[str, Any]
) -> None:
    s, vip = scene["segments"], scene["list"]
    campaign = add_campaign(
        db, project, owner, clock, targeting={"include_segments": [s[0]], "include_lists": [vip]}
    )
    run = run_now(db, project, campaign, clock)
    with db.begin() as conn:  # ten leads sent by that run: skipped as already sent
        conn.execute(
            campaign_recipients.insert(),
            [
                {
                    "project_id": project.id,
                    "campaign_id": campaign,
                    "run_id": run,
                    "lead_id": lead_id,
                    "email": f"l{lead_id}@x.test",
                    "state": "sent",
                }
                for lead_id in scene["ids"][:10]
            ],
        )
    targetings = [
        {"include_segments": [s[0]], "include_lists": [vip]},
        {"include_segments": [s[1], s[2]], "exclude_segments": [s[3]]},
        {"include_segments": [s[3], s[4]], "exclude_lists": [vip], "filter": TREES[2]},
        {"include_lists": [vip], "filter": {"field": "status", "op": "eq", "value": "qualified"}},
        {"include_segments": [s[2]], "exclude_segments": [s[2]]},
    ]
    for data in targetings:
        for channel, campaign_id in (("email", campaign), ("webhook", None)):

            def preview(
                data: dict[str, Any] = data,
                channel: str = channel,
                campaign_id: int | None = campaign_id,
            ) -> dict[str, Any]:
                with db.connect() as conn:
                    targeting = definitions.check_targeting(conn, project, data, None)
                    resend = Resend()
                    return audience.preview(
                        conn, project, targeting, channel, campaign_id, resend, clock.now()
                    )

            with_index, with_sql = _both(db, preview)
            assert with_index == with_sql, data
    # the already-sent leads are skipped, with the index as without it
    with db.connect() as conn:
        targeting = definitions.check_targeting(conn, project, targetings[0], None)
    index.attach(db, index.Settings(background=False))
    with db.connect() as conn:
        result = audience.preview(
            conn, project, targeting, "email", campaign, Resend(), clock.now()
        )
    assert result["skipped"]["already_sent"] > 0 and result["count"] > 0


def test_analytics_current_agrees(
    db: Engine, project: Project, clock: FrozenClock, scene: dict[str, Any]
) -> None:
    counts = []
    for segment_id in scene["segments"]:

        def current(segment_id: int = segment_id) -> analytics.Current:
            with db.connect() as conn:
                return analytics.current(conn, project, segment_id, clock.now())

        with_index, with_sql = _both(db, current)
        assert with_index.count == with_sql.count
        assert with_index.converted == with_sql.converted
        assert with_index.score_sum == pytest.approx(with_sql.score_sum, abs=1e-9)
        counts.append((with_index.count, with_index.converted))
    assert sum(c for c, _ in counts) > 0 and sum(c for _, c in counts) > 0, counts


def test_matching_leads_agree(
    db: Engine, project: Project, clock: FrozenClock, scene: dict[str, Any]
) -> None:
    """What a sync asks: which of some leads (some deleted, some never written) each segment's
    filter matches now, and which of all leads."""
    ids = scene["ids"]
    with db.begin() as conn:
        conn.execute(leads.delete().where(leads.c.project_id == project.id, leads.c.id == ids[0]))
    among = [*ids[:30], max(ids) + 1000]
    trees = {n: filtering.load(project, t) for n, t in enumerate(TREES)}
    index.attach(db, index.Settings(background=False))
    with db.connect() as conn:
        indexed = answering.matching_among(conn, project, trees, among, clock.now())
        every = {
            n: answering.matching_all(conn, project, index.Audience((t,)), clock.now())
            for n, t in trees.items()
        }
    assert indexed is not None
    index.detach(db)
    with db.connect() as conn:
        for n, tree in trees.items():
            where = filtering.condition(conn, project, tree, clock.now())
            query = sa.select(leads.c.id).where(leads.c.project_id == project.id, where)
            live = set(conn.execute(query).scalars())
            assert indexed.value[n] == live & set(among), TREES[n]
            found = every[n]
            assert found is not None and set(found.value.tolist()) == live, TREES[n]


def test_a_full_sync_through_the_index_writes_what_sql_would(
    db: Engine, project: Project, clock: FrozenClock, scene: dict[str, Any]
) -> None:
    """A segment's stored members emptied behind its back: the full sync through the index
    enters exactly the leads SQL matches, and a second sync changes nothing."""
    segment_id = scene["segments"][1]
    with db.begin() as conn:
        before = membership.member_ids(conn, project, segment_id)
        conn.execute(
            segment_members.delete().where(
                segment_members.c.project_id == project.id,
                segment_members.c.segment_id == segment_id,
            )
        )
    index.attach(db, index.Settings(background=False))
    with db.begin() as conn:
        changes = membership.sync(conn, project, segment_id, clock.now(), "filter_edit")
    with db.begin() as conn:
        again = membership.sync(conn, project, segment_id, clock.now(), "filter_edit")
        after = membership.member_ids(conn, project, segment_id)
    assert changes == membership.Changes(len(before), 0) and again == membership.Changes()
    assert after == before and before
