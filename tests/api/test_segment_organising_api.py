"""Organising segments over HTTP, on both databases: the list filtered by creator and tags, each
row's conditions in words, and every saved version of a segment, read and restored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.store.db import create_engine
from segmint.store.migrate import downgrade, upgrade
from segmint.store.tables import segment_versions
from segmint.worker.loop import Worker
from tests.api.conftest import Api, error_of

NEW = {"field": "status", "op": "eq", "value": "new"}
CONTACTED = {"field": "status", "op": "eq", "value": "contacted"}


def _segment(api: Api, name: str, as_: str = "owner", tree: Any = NEW, **extra: Any) -> Any:
    response = api.post("segments", as_=as_, json={"name": name, "filter": tree, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def _names(api: Api, as_: str = "owner", **params: Any) -> list[str]:
    response = api.get("segments", as_=as_, params=params)
    assert response.status_code == 200, response.text
    return [s["name"] for s in response.json()["items"]]


# -- the list filtered by creator -------------------------------------------------------------


def test_the_list_is_filtered_by_creator_within_its_scope(api: Api) -> None:
    _segment(api, "Owner's")
    _segment(api, "Admin's", as_="admin")
    _segment(api, "Member's", as_="member")
    everyone = {"scope": "all"}
    assert _names(api, **everyone, created_by="admin@acme.test") == ["Admin's"]
    assert _names(api, **everyone, created_by=" Member@ACME.test ") == ["Member's"]
    assert _names(api, **everyone, created_by="me") == ["Owner's"]
    assert _names(api, as_="admin", **everyone, created_by="me") == ["Admin's"]
    # Combined with the search and with "mine": each narrows the other.
    assert _names(api, **everyone, created_by="admin@acme.test", q="owner") == []
    assert _names(api, created_by="admin@acme.test") == []  # scope=mine: the owner's only
    assert _names(api, as_="member", created_by="me") == ["Member's"]
    unknown = api.get("segments", params={**everyone, "created_by": "nobody@acme.test"})
    assert unknown.status_code == 422 and error_of(unknown)["path"] == "created_by"
    # Another organization's user is nobody here.
    stranger = api.get("segments", params={**everyone, "created_by": "boss@globex.test"})
    assert stranger.status_code == 422


def test_facets_name_creators_and_tags_in_scope(api: Api) -> None:
    _segment(api, "A", tags=["Q4", "outreach"])
    _segment(api, "B", tags=["q4"])
    _segment(api, "C", as_="member", tags=["private"])
    facets = api.get("segments/facets", params={"scope": "all"}).json()
    assert facets["creators"] == [
        {"value": "member@acme.test", "segments": 1},
        {"value": "owner@acme.test", "segments": 2},
    ]
    assert facets["tags"] == [
        {"value": "outreach", "segments": 1},
        {"value": "private", "segments": 1},
        {"value": "Q4", "segments": 2},  # "q4" took the project's first spelling
    ]
    mine = api.get("segments/facets", as_="member").json()
    assert mine == {
        "creators": [{"value": "member@acme.test", "segments": 1}],
        "tags": [{"value": "private", "segments": 1}],
    }
    assert api.get("segments/facets", as_="member", params={"scope": "all"}).status_code == 403


# -- tags ---------------------------------------------------------------------------------------


def test_tags_are_set_shown_replaced_and_filtered_by(api: Api) -> None:
    a = _segment(api, "A", tags=[" Q4  campaign ", "outreach", "OUTREACH"])
    assert a["tags"] == ["outreach", "Q4 campaign"]  # trimmed, de-duplicated, sorted
    b = _segment(api, "B", tags=["q4 CAMPAIGN"])
    assert b["tags"] == ["Q4 campaign"]
    _segment(api, "C")
    assert _names(api, tag="q4 campaign") == ["B", "A"]
    assert _names(api, tag=["Q4 campaign", "outreach"]) == ["A"]  # every tag given
    assert _names(api, tag="unused") == []
    changed = api.patch(f"segments/{a['id']}", json={"tags": ["later"]}).json()
    assert changed["tags"] == ["later"] and changed["version"] == 1
    assert _names(api, tag="outreach") == []
    assert api.get(f"segments/{a['id']}").json()["tags"] == ["later"]
    assert api.post(f"segments/{a['id']}/duplicate").json()["tags"] == ["later"]
    cleared = api.patch(f"segments/{a['id']}", json={"tags": []}).json()
    assert cleared["tags"] == []


def test_bad_tags_are_422_naming_the_tag(api: Api) -> None:
    cases = [
        (["ok", ""], "tags[1]"),
        (["x" * 51], "tags[0]"),
        ([7], "tags[0]"),
        ([f"t{i}" for i in range(21)], "tags"),
    ]
    for tags, path in cases:
        response = api.post("segments", json={"name": "Bad", "filter": NEW, "tags": tags})
        assert response.status_code == 422, response.text
        assert error_of(response)["path"] == path
    segment = _segment(api, "Kept", tags=["keep"])
    refused = api.patch(f"segments/{segment['id']}", json={"name": "Gone", "tags": [""]})
    assert refused.status_code == 422
    assert api.get(f"segments/{segment['id']}").json()["name"] == "Kept"  # rolled back
    assert _names(api) == ["Kept"]


# -- the rules summary --------------------------------------------------------------------------


def test_each_listed_segment_carries_its_conditions_in_words(api: Api) -> None:
    base = _segment(api, "Base")
    tree = {
        "and": [
            {"or": [NEW, CONTACTED]},
            {"event": "trial_signup", "within_days": 14},
            {"in_segment": base["id"]},
        ]
    }
    _segment(api, "Nested", tree=tree)
    listed = {s["name"]: s for s in api.get("segments").json()["items"]}
    words = listed["Nested"]["words"]
    assert words == api.post("filters/text", json={"filter": tree}).json()["words"]
    assert words["children"][0]["children"][0]["field_label"] == "Status"
    assert words["children"][2] == {"type": "in_segment", "segment_id": base["id"], "name": "Base"}
    assert listed["Base"]["words"]["op_label"]


def test_a_member_is_not_shown_words_reaching_someone_elses_segment(api: Api) -> None:
    owners = _segment(api, "Owner's")
    mine = _segment(api, "Member's", as_="member")
    # The owner edits the member's segment to refer to the owner's own.
    api.patch(f"segments/{mine['id']}", json={"filter": {"in_segment": owners["id"]}})
    [listed] = api.get("segments", as_="member").json()["items"]
    assert listed["words"] is None and listed["member_count"] is None
    owner_view = {s["id"]: s for s in api.get("segments", params={"scope": "all"}).json()["items"]}
    assert owner_view[mine["id"]]["words"]["name"] == "Owner's"


@contextmanager
def _statements(db: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(db, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(db, "before_cursor_execute", count)


def test_the_list_asks_the_same_queries_however_many_segments(api: Api, db: Engine) -> None:
    base = _segment(api, "Base", tags=["t"])
    listed = api.post("lists", json={"name": "VIP"}).json()
    tree = {"and": [{"in_segment": base["id"]}, {"in_list": listed["id"]}]}

    def queries() -> int:
        api.get("segments")  # the index catches up first: not what is measured
        with _statements(db) as seen:
            assert api.get("segments").status_code == 200
        return len(seen)

    _segment(api, "One", tree=tree, tags=["t", "u"])
    few = queries()
    for i in range(5):
        _segment(api, f"More {i}", tree=tree, tags=["t", f"u{i}"])
    assert queries() == few


# -- versions -----------------------------------------------------------------------------------


def test_every_saved_definition_is_a_version(api: Api) -> None:
    segment = _segment(api, "New", description="First")
    sid = segment["id"]
    api.patch(f"segments/{sid}", json={"color": "#000000", "active": False, "tags": ["x"]})
    api.patch(f"segments/{sid}", json={"name": "New"})  # the same name: nothing saved
    api.patch(f"segments/{sid}", json={"name": "Renamed"})
    api.patch(f"segments/{sid}", json={"filter": {"or": [NEW, CONTACTED]}}, as_="owner")
    page = api.get(f"segments/{sid}/versions").json()
    assert [v["number"] for v in page["items"]] == [3, 2, 1] and page["next_before"] is None
    newest, renamed, first = page["items"]
    assert (first["name"], first["description"], first["filter"]) == ("New", "First", NEW)
    assert (renamed["name"], renamed["filter_version"]) == ("Renamed", 1)
    assert newest["filter_version"] == 2 and newest["current"] and not renamed["current"]
    assert {v["saved_by"] for v in page["items"]} == {"owner@acme.test"}
    assert newest["words"]["type"] == "or" and newest["restored_from"] is None
    assert first["saved_at"] <= renamed["saved_at"] <= newest["saved_at"]
    one = api.get(f"segments/{sid}/versions/1").json()
    assert one == first
    missing = api.get(f"segments/{sid}/versions/9")
    assert missing.status_code == 404 and "no version 9" in error_of(missing)["message"]


def test_versions_are_paged_by_keyset(api: Api) -> None:
    sid = _segment(api, "v1")["id"]
    for n in range(2, 8):
        api.patch(f"segments/{sid}", json={"name": f"v{n}"})
    seen: list[int] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if before is not None:
            params["before"] = before
        page = api.get(f"segments/{sid}/versions", params=params).json()
        seen += [v["number"] for v in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert api.get(f"segments/{sid}/versions", params={"limit": 101}).status_code == 422


def test_restoring_saves_the_old_definition_as_a_new_version(api: Api, db: Engine) -> None:
    for email, status in [("a@x.test", "new"), ("b@x.test", "contacted")]:
        api.post("leads", json={"email": email, "status": status})
    segment = _segment(api, "New", description="Fresh leads")
    sid = segment["id"]
    api.patch(f"segments/{sid}", json={"name": "Contacted", "filter": CONTACTED})
    Worker(db).drain()
    restored = api.post(f"segments/{sid}/versions/1/restore")
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert (body["name"], body["description"], body["filter"]) == ("New", "Fresh leads", NEW)
    assert body["version"] == 3 and body["member_count"] == 1
    newest = api.get(f"segments/{sid}/versions", params={"limit": 1}).json()["items"][0]
    assert (newest["number"], newest["restored_from"], newest["current"]) == (3, 1, True)
    # The maintained membership follows, as after any filter edit, under the new version.
    Worker(db).drain()
    changes = api.get(f"segments/{sid}/history", params={"order": "desc", "limit": 2}).json()
    assert {(h["change"], h["segment_version"], h["reason"]) for h in changes["items"]} == {
        ("entered", 3, "filter_edit"),
        ("exited", 3, "filter_edit"),
    }
    again = api.post(f"segments/{sid}/versions/3/restore").json()  # already current
    assert again["version"] == 3
    assert len(api.get(f"segments/{sid}/versions").json()["items"]) == 3


def test_a_restore_is_validated_like_any_update(api: Api) -> None:
    other = _segment(api, "Other")
    sid = _segment(api, "Uses other", tree={"in_segment": other["id"]})["id"]
    api.patch(f"segments/{sid}", json={"filter": NEW})
    api.delete(f"segments/{other['id']}")
    refused = api.post(f"segments/{sid}/versions/1/restore")
    assert refused.status_code == 422, refused.text
    assert error_of(refused)["path"] == "filter.in_segment"
    assert api.get(f"segments/{sid}").json()["filter"] == NEW
    assert len(api.get(f"segments/{sid}/versions").json()["items"]) == 2
    [_, first] = api.get(f"segments/{sid}/versions").json()["items"]
    assert first["words"] == {"type": "in_segment", "segment_id": other["id"], "name": None}


def test_who_may_read_and_restore_versions(api: Api) -> None:
    owners = _segment(api, "Owner's")
    mine = _segment(api, "Member's", as_="member")
    api.patch(f"segments/{mine['id']}", as_="member", json={"name": "Member's, renamed"})
    assert api.get(f"segments/{owners['id']}/versions", as_="member").status_code == 403
    assert api.get(f"segments/{owners['id']}/versions/1", as_="member").status_code == 403
    assert api.get(f"segments/{mine['id']}/versions", as_="admin").status_code == 200
    assert api.post(f"segments/{mine['id']}/versions/1/restore", as_="admin").status_code == 403
    assert api.post(f"segments/{owners['id']}/versions/1/restore", as_="member").status_code == 403
    assert api.get(f"segments/{mine['id']}/versions", as_="stranger").status_code == 404
    assert api.post(f"segments/{mine['id']}/versions/1/restore", as_="stranger").status_code == 404
    assert api.post(f"segments/{mine['id']}/versions/1/restore", as_="member").status_code == 200
    assert api.get(f"segments/{mine['id']}", as_="member").json()["name"] == "Member's"


def test_deleting_a_segment_deletes_its_versions_and_tags(api: Api, db: Engine) -> None:
    sid = _segment(api, "Gone", tags=["x"])["id"]
    api.delete(f"segments/{sid}")
    with db.connect() as conn:
        left = conn.execute(
            sa.select(sa.func.count()).where(segment_versions.c.segment_id == sid)
        ).scalar()
    assert left == 0
    assert api.get("segments/facets").json()["tags"] == []


def test_the_migration_records_each_segments_current_definition(
    api: Api, db: Engine, db_url: str
) -> None:
    untouched = _segment(api, "Untouched", description="As made")
    edited = _segment(api, "Edited")
    api.patch(f"segments/{edited['id']}", json={"filter": CONTACTED})
    engine = create_engine(db_url, poolclass=sa.NullPool)
    try:
        downgrade(engine, "0019")  # later migrations first,
        downgrade(engine, "-1")  # then to before migration 0019
        upgrade(engine)
    finally:
        engine.dispose()
    [first] = api.get(f"segments/{untouched['id']}/versions").json()["items"]
    assert (first["number"], first["name"], first["description"]) == (1, "Untouched", "As made")
    assert first["saved_by"] == "owner@acme.test" and first["filter"] == NEW
    [current] = api.get(f"segments/{edited['id']}/versions").json()["items"]
    assert (current["number"], current["filter_version"], current["filter"]) == (1, 2, CONTACTED)
    assert current["saved_by"] is None  # who saved the edit was never recorded
