"""Manual membership over the API: leads included in or excluded from a segment by hand are
members (or not) in every answer of who is in the segment (counts, pages, exports, previews of
`in_segment`, campaigns' audiences, the maintained membership and its history and webhooks), the
same through the columnar index and through SQL, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from segmint.app import create_app
from segmint.engine.answering import ENGINE_HEADER
from segmint.store.db import create_engine
from segmint.store.tables import leads, manual_members, membership_history, webhook_queue
from segmint.worker.loop import Worker
from tests.api.conftest import Api

NEW = {"field": "status", "op": "eq", "value": "new"}


@pytest.fixture
def sql_api(db_url: str, api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The same users over an app with the index turned off: SQL answers everything."""
    monkeypatch.setenv("SEGMINT_INDEX", "off")
    engine = create_engine(db_url, poolclass=sa.NullPool)
    with TestClient(create_app(engine)) as client:
        yield Api(client, api.project, api.tokens)
    engine.dispose()


def _seed(api: Api) -> dict[str, int]:
    people = [
        {"email": "ann@x.test", "status": "new"},
        {"email": "ben@x.test", "status": "new"},
        {"email": "cat@x.test", "status": "lost"},
        {"email": "dan@x.test", "status": "contacted"},
    ]
    assert api.post("leads/bulk", json={"leads": people}).status_code == 200
    items = api.get("leads", params={"per_page": 100}).json()["items"]
    return {lead["email"].split("@")[0]: lead["id"] for lead in items}


def _segment(api: Api, tree: Any = NEW, **extra: Any) -> int:
    response = api.post("segments", json={"name": "New", "filter": tree, **extra})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _member_emails(api: Api, segment_id: int) -> tuple[set[str], str]:
    response = api.get(f"segments/{segment_id}/members", params={"per_page": 100})
    assert response.status_code == 200, response.text
    return {i["email"].split("@")[0] for i in response.json()["items"]}, response.headers[
        ENGINE_HEADER
    ]


def _answers(api: Api, segment_id: int) -> dict[str, Any]:
    """Who is in the segment, by every way of asking."""
    count = api.get(f"segments/{segment_id}/count")
    members, engine = _member_emails(api, segment_id)
    export = api.get(f"segments/{segment_id}/export.csv", params={"columns": "email"})
    exported = {line.split("@")[0] for line in export.text.splitlines()[1:]}
    public = api.get(f"segments/{segment_id}").json()["member_count"]
    return {
        "count": count.json()["count"],
        "member_count": public,
        "members": members,
        "exported": exported,
        "engines": {engine, count.headers[ENGINE_HEADER], export.headers[ENGINE_HEADER]},
    }


def test_included_and_excluded_leads_are_in_every_answer(api: Api, sql_api: Api) -> None:
    ids = _seed(api)
    segment_id = _segment(api)
    assert _answers(api, segment_id)["members"] == {"ann", "ben"}

    included = api.post(f"segments/{segment_id}/includes", json={"lead_ids": [ids["cat"]]})
    assert included.status_code == 200, included.text
    assert included.json() == {"changed": 1, "included": 1, "excluded": 0}
    excluded = api.post(f"segments/{segment_id}/excludes", json={"lead_ids": [ids["ann"]]})
    assert excluded.json() == {"changed": 1, "included": 1, "excluded": 1}

    expected = {"ben", "cat"}
    for client, engine in ((api, "index"), (sql_api, "sql")):
        answers = _answers(client, segment_id)
        assert answers == {
            "count": 2,
            "member_count": 2,
            "members": expected,
            "exported": expected,
            "engines": {engine},
        }

    # A lead included while excluded is turned around (never both), and the other way.
    turned = api.post(f"segments/{segment_id}/includes", json={"lead_ids": [ids["ann"]]})
    assert turned.json() == {"changed": 1, "included": 2, "excluded": 0}
    again = api.post(f"segments/{segment_id}/includes", json={"lead_ids": [ids["ann"]]})
    assert again.json()["changed"] == 0
    assert _member_emails(api, segment_id)[0] == {"ann", "ben", "cat"}

    removed = api.delete(f"segments/{segment_id}/includes", json={"lead_ids": [ids["cat"]]})
    assert removed.json() == {"changed": 1, "included": 1, "excluded": 0}
    for client in (api, sql_api):
        assert _member_emails(client, segment_id)[0] == {"ann", "ben"}


def test_includes_and_excludes_are_listed_in_pages(api: Api) -> None:
    ids = _seed(api)
    segment_id = _segment(api)
    chosen = sorted(ids.values())
    api.post(f"segments/{segment_id}/includes", json={"lead_ids": chosen[:3]})
    first = api.get(f"segments/{segment_id}/includes", params={"limit": 2}).json()
    assert [i["lead_id"] for i in first["items"]] == chosen[:2]
    assert first["total"] == 3 and first["next_after"] == chosen[1]
    assert first["items"][0]["email"].endswith("@x.test")
    rest = api.get(
        f"segments/{segment_id}/includes", params={"limit": 2, "after": first["next_after"]}
    ).json()
    assert [i["lead_id"] for i in rest["items"]] == chosen[2:3] and rest["next_after"] is None
    assert api.get(f"segments/{segment_id}/excludes").json() == {
        "items": [],
        "total": 0,
        "next_after": None,
    }


def test_unknown_and_foreign_leads_are_named(api: Api, db: Engine) -> None:
    ids = _seed(api)
    segment_id = _segment(api)
    with db.begin() as conn:  # a lead of another organization's project
        foreign_project = conn.execute(
            sa.text("SELECT id FROM projects WHERE id <> :p"), {"p": api.project.id}
        ).scalar_one()
        foreign = conn.execute(
            leads.insert()
            .values(project_id=foreign_project, email="x@globex.test", tags=[], custom={},
                    created_at=sa.func.now(), updated_at=sa.func.now())
            .returning(leads.c.id)
        ).scalar_one()  # fmt: skip
    body = {"lead_ids": [ids["ann"], 999_999, foreign]}
    response = api.post(f"segments/{segment_id}/includes", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["path"] == "lead_ids[1]" or error["path"] == "lead_ids[2]"
    assert "999999" in error["message"] and str(foreign) in error["message"]
    with db.connect() as conn:  # nothing was written: the request is all or nothing
        assert conn.execute(sa.select(sa.func.count()).select_from(manual_members)).scalar() == 0
    assert api.post(f"segments/{segment_id}/excludes", json={"lead_ids": []}).status_code == 422
    text_ids = api.post(f"segments/{segment_id}/includes", json={"lead_ids": ["a"]})
    assert text_ids.status_code == 422


def test_only_those_who_may_edit_the_segment_change_it(api: Api) -> None:
    ids = _seed(api)
    segment_id = _segment(api)
    body = {"lead_ids": [ids["cat"]]}
    assert api.post(f"segments/{segment_id}/includes", "member", json=body).status_code == 403
    assert api.post(f"segments/{segment_id}/includes", "stranger", json=body).status_code == 404
    assert api.get(f"segments/{segment_id}/includes", "stranger").status_code == 404
    assert api.post("segments/999999/includes", json=body).status_code == 404


def _history(db: Engine, segment_id: int) -> list[tuple[int, str, str]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(
                membership_history.c.lead_id,
                membership_history.c.change,
                membership_history.c.reason,
            )
            .where(membership_history.c.segment_id == segment_id)
            .order_by(membership_history.c.id)
        )
        return [(r.lead_id, r.change, r.reason) for r in rows]


def test_manual_changes_are_history_and_webhooks(api: Api, db: Engine) -> None:
    ids = _seed(api)
    segment_id = _segment(api)
    derived = _segment(api, {"in_segment": segment_id})
    hook = api.post("webhooks", json={"url": "https://hooks.test/x", "segment_id": segment_id})
    assert hook.status_code == 201, hook.text
    Worker(db).drain()
    api.post(f"segments/{segment_id}/includes", json={"lead_ids": [ids["cat"]]})
    api.post(f"segments/{segment_id}/excludes", json={"lead_ids": [ids["ann"]]})
    Worker(db).drain()
    assert _history(db, segment_id)[-2:] == [
        (ids["cat"], "entered", "manual"),
        (ids["ann"], "exited", "manual"),
    ]
    assert _history(db, derived)[-2:] == [
        (ids["cat"], "entered", "dependency"),
        (ids["ann"], "exited", "dependency"),
    ]
    with db.connect() as conn:
        queued = conn.execute(sa.select(sa.func.count()).select_from(webhook_queue)).scalar()
    assert queued == 4  # ann and ben entered on creation, then cat entered and ann left
    history = api.get(f"segments/{segment_id}/history", params={"order": "desc"}).json()
    assert history["items"][0]["detail"] == "excluded by owner@acme.test"
    # Taking the include away: the filter decides again, and cat leaves.
    api.delete(f"segments/{segment_id}/includes", json={"lead_ids": [ids["cat"]]})
    Worker(db).drain()
    assert _history(db, segment_id)[-1] == (ids["cat"], "exited", "manual")


def test_an_inactive_segment_changes_by_hand_only(api: Api, db: Engine) -> None:
    """Frozen membership stays frozen, but a manual include or exclude names its leads: they
    enter or leave at once (in the request), recorded as manual. Taking one away changes
    nothing until the segment is active again."""
    ids = _seed(api)
    segment_id = _segment(api, active=False)
    assert _answers(api, segment_id)["members"] == set()
    api.post(f"segments/{segment_id}/includes", json={"lead_ids": [ids["cat"], ids["ann"]]})
    assert _member_emails(api, segment_id)[0] == {"cat", "ann"}
    assert _history(db, segment_id) == [
        (ids["ann"], "entered", "manual"),
        (ids["cat"], "entered", "manual"),
    ]
    api.post(f"segments/{segment_id}/excludes", json={"lead_ids": [ids["ann"]]})
    api.delete(f"segments/{segment_id}/includes", json={"lead_ids": [ids["cat"]]})
    Worker(db).drain()
    assert _member_emails(api, segment_id)[0] == {"cat"}
    assert api.get(f"segments/{segment_id}/members").json()["frozen"] is True
    # Active again: the rule decides, ann stays out by her exclude.
    api.patch(f"segments/{segment_id}", json={"active": True})
    Worker(db).drain()
    assert _member_emails(api, segment_id)[0] == {"ben"}
    assert _history(db, segment_id)[-1][2] == "activation"


def test_in_segment_and_campaign_audiences_follow_manual_members(api: Api, sql_api: Api) -> None:
    ids = _seed(api)
    segment_id = _segment(api)
    api.post(f"segments/{segment_id}/includes", json={"lead_ids": [ids["dan"]]})
    api.post(f"segments/{segment_id}/excludes", json={"lead_ids": [ids["ben"]]})
    for client in (api, sql_api):
        preview = client.post("segments/preview", json={"filter": {"in_segment": segment_id}})
        assert preview.json()["count"] == 2  # ann and dan
        campaign = client.post(
            "campaigns",
            json={"name": "Hi", "subject": "Hi", "targeting": {"include_segments": [segment_id]}},
        ).json()
        audience = client.get(f"campaigns/{campaign['id']}/audience").json()
        assert audience["count"] == 2, audience


def test_deleting_a_lead_removes_its_manual_rows(api: Api, db: Engine) -> None:
    ids = _seed(api)
    segment_id = _segment(api)
    api.post(f"segments/{segment_id}/includes", json={"lead_ids": [ids["cat"], ids["dan"]]})
    assert api.delete(f"leads/{ids['cat']}").status_code == 204
    listed = api.get(f"segments/{segment_id}/includes").json()
    assert [i["lead_id"] for i in listed["items"]] == [ids["dan"]]
    assert _member_emails(api, segment_id)[0] == {"ann", "ben", "dan"}


def test_a_duplicate_keeps_the_leads_included_and_excluded_by_hand(
    api: Api, sql_api: Api, db: Engine
) -> None:
    ids = _seed(api)
    segment_id = _segment(api)
    api.post(f"segments/{segment_id}/includes", json={"lead_ids": [ids["cat"]]})
    api.post(f"segments/{segment_id}/excludes", json={"lead_ids": [ids["ann"]]})
    copy = api.post(f"segments/{segment_id}/duplicate")
    assert copy.status_code == 201, copy.text
    copy_id = copy.json()["id"]
    assert copy.json()["member_count"] == 2
    for client in (api, sql_api):
        assert _answers(client, copy_id)["members"] == {"ben", "cat"}
    Worker(db).drain()  # its first sync keeps them too, and the original is unchanged
    assert _answers(api, copy_id)["members"] == {"ben", "cat"}
    assert _answers(api, segment_id)["members"] == {"ben", "cat"}
    listed = api.get(f"segments/{copy_id}/excludes").json()["items"]
    assert [lead["email"] for lead in listed] == ["ann@x.test"]
