"""Lead segments reaching an account segment (`in_account_segment`) keep their maintained
membership as the account's leads and the account change; account segments themselves are
maintained in tables of their own (tests/engine/test_account_membership.py). On both databases,
with and without the index."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.clock import FrozenClock
from segmint.engine import accounts, leads, segments
from segmint.projects import Project
from segmint.store.tables import segment_members
from segmint.worker.loop import Worker
from tests.engine.test_membership import _history, _ids, _members, _owner

HOT = {"field": "engagement_level", "op": "eq", "value": "Hot"}


def test_in_account_segment_follows_fellow_leads_and_the_account(
    db: Engine, project: Project, clock: FrozenClock, index_mode: str
) -> None:
    worker = Worker(db, clock)
    owner = _owner(db, project)
    with db.begin() as conn:
        acme = accounts.create_account(conn, project, {"name": "Acme", "metadata": {}}, clock)
        for email in ("a@acme.test", "b@acme.test"):
            leads.create_lead(conn, project, {"email": email, "account_id": acme.id}, clock)
        account_segment = segments.create_segment(
            conn,
            project,
            owner,
            {
                "name": "Two hot leads, gold",
                "audience": "accounts",
                "filter": {
                    "and": [
                        {"leads": HOT, "min_count": 2},
                        {"field": "metadata.tier", "op": "eq", "value": "gold"},
                    ]
                },
            },
            clock,
        )
        lead_segment = segments.create_segment(
            conn,
            project,
            owner,
            {"name": "Their leads", "filter": {"in_account_segment": account_segment.id}},
            clock,
        )
    worker.drain()
    ids = _ids(db, project)
    a, b = ids["a@acme.test"], ids["b@acme.test"]
    assert _members(db, project, lead_segment.id) == set()

    clock.advance(timedelta(minutes=1))
    with db.begin() as conn:
        accounts.update_account(conn, project, acme.id, {"metadata": {"tier": "gold"}}, clock)
        leads.update_lead(conn, project, a, {"engagement_level": "Hot"}, clock)
    worker.drain()
    assert _members(db, project, lead_segment.id) == set()  # one hot lead of the two

    # b's write moves the account in, and with it a, whose own row did not change.
    with db.begin() as conn:
        leads.update_lead(conn, project, b, {"engagement_level": "Hot"}, clock)
    worker.drain()
    assert _members(db, project, lead_segment.id) == {a, b}
    assert {(lead, change) for lead, change, _, _ in _history(db, lead_segment.id)} == {
        (a, "entered"),
        (b, "entered"),
    }

    # The account's own write moves them out again.
    with db.begin() as conn:
        accounts.update_account(conn, project, acme.id, {"metadata": {"tier": "silver"}}, clock)
    worker.drain()
    assert _members(db, project, lead_segment.id) == set()

    # The account segment's stored membership is of accounts, never in segment_members.
    with db.connect() as conn:
        stored = conn.execute(
            sa.select(sa.func.count()).where(segment_members.c.segment_id == account_segment.id)
        ).scalar()
    assert stored == 0
