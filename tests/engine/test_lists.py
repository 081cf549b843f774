"""A static list made from a segment and refreshed from its filter: the same members, and the
same `added_at` for the leads that stay, whether the index or the database finds them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.clock import FrozenClock
from segmint.engine import answering, filtering, lists, segments
from segmint.index import Audience
from segmint.ingest import upsert_leads
from segmint.projects import Project
from segmint.store.tables import leads, list_members
from tests.engine.test_membership import NEW, _owner, _segment


def _members(db: Engine, list_id: int) -> dict[str, datetime]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(leads.c.email, list_members.c.added_at)
            .join(leads, leads.c.id == list_members.c.lead_id)
            .where(list_members.c.list_id == list_id)
        )
        return {row.email: row.added_at for row in rows}


def _set_status(db: Engine, project: Project, statuses: dict[str, str]) -> None:
    rows = [{"email": email, "status": status} for email, status in statuses.items()]
    upsert_leads(db, project, enumerate(rows))


@pytest.mark.parametrize("ids_to_sql", [answering.MAX_IDS_TO_SQL, 1])
def test_a_refreshed_list_writes_only_the_difference(
    db: Engine,
    project: Project,
    clock: FrozenClock,
    index_mode: str,
    ids_to_sql: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Also when the difference is too many ids to hand to the database (1 here): the index's
    answer is left, and the database evaluates the filter itself."""
    monkeypatch.setattr(answering, "MAX_IDS_TO_SQL", ids_to_sql)
    _set_status(db, project, {"a@x.test": "new", "b@x.test": "new", "c@x.test": "lost"})
    segment_id = _segment(db, project, NEW, clock)
    with db.begin() as conn:
        row = segments.get_segment(conn, project, segment_id)
        list_id = segments.convert_to_list(conn, project, _owner(db, project), row, clock)
    made = clock.now()
    assert _members(db, list_id) == {"a@x.test": made, "b@x.test": made}

    clock.advance(timedelta(hours=1))
    _set_status(db, project, {"b@x.test": "lost", "c@x.test": "new", "d@x.test": "new"})
    with db.begin() as conn:
        tree = filtering.load(project, NEW)
        where = filtering.condition(conn, project, tree, clock.now())
        count = lists.replace_members(conn, project, list_id, where, clock, Audience((tree,)))
    # a stays (and keeps when it was added), b left, c and d joined now
    assert _members(db, list_id) == {
        "a@x.test": made,
        "c@x.test": clock.now(),
        "d@x.test": clock.now(),
    }
    assert count == 3
