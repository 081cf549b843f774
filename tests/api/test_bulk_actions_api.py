"""Bulk actions over the API: asked for by ids or by "all N matching", done by a real worker in
batches, each batch's writes followed by membership maintenance; with the index on and off."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from segmint.engine import bulk
from segmint.index import Settings as IndexSettings
from segmint.worker.loop import Worker
from tests.api.conftest import Api


@pytest.fixture(params=["index", "sql"])
def api_index(request: pytest.FixtureRequest) -> IndexSettings:
    return IndexSettings(enabled=request.param == "index", background=False)


def _leads(api: Api, *records: dict[str, Any]) -> list[int]:
    response = api.post("leads/bulk", json={"leads": list(records)})
    assert response.status_code == 200, response.text
    listed = api.get("leads", params={"per_page": 200, "sort": "email"}).json()["items"]
    by_email = {lead["email"]: lead["id"] for lead in listed}
    return [by_email[record["email"]] for record in records]


def _people(api: Api, count: int, **fields: Any) -> list[int]:
    return _leads(api, *({"email": f"p{i:02}@x.test", **fields} for i in range(count)))


def _start(api: Api, as_: str = "owner", **body: Any) -> dict[str, Any]:
    response = api.post("bulk-actions", as_=as_, json=body)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert job["state"] == "queued"
    return job


def _job(api: Api, job_id: int) -> dict[str, Any]:
    response = api.get(f"bulk-actions/{job_id}")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def _statuses(api: Api) -> dict[str, str | None]:
    listed = api.get("leads", params={"per_page": 200}).json()["items"]
    return {lead["email"]: lead["status"] for lead in listed}


def test_all_matching_a_filter_get_a_status_and_segments_follow(api: Api, db: Engine) -> None:
    _people(api, 5, status="new")
    _leads(api, {"email": "old@x.test", "status": "lost"})
    segment = api.post(
        "segments",
        json={"name": "Contacted", "filter": {"field": "status", "op": "eq", "value": "contacted"}},
    ).json()
    worker = Worker(db)
    worker.drain()
    new = {"field": "status", "op": "eq", "value": "new"}
    job = _start(
        api, action="set_status", params={"status": "Contacted"}, selection={"filter": new}
    )
    assert (job["total"], job["processed"], job["created_by_email"]) == (5, 0, "owner@acme.test")
    assert job["params"] == {"status": "contacted"}  # as a lead's status is written
    worker.drain()
    done = _job(api, job["id"])
    assert (done["state"], done["processed"], done["changed"], done["progress"]) == (
        "done",
        5,
        5,
        1.0,
    )
    statuses = _statuses(api)
    assert statuses.pop("old@x.test") == "lost"
    assert set(statuses.values()) == {"contacted"}
    history = api.get(f"segments/{segment['id']}/history").json()["items"]
    assert len([h for h in history if h["change"] == "entered"]) == 5


def test_an_action_goes_batch_by_batch_and_a_new_worker_finishes_it(
    api: Api, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BATCH", 2)
    _people(api, 5, status="new")
    job = _start(api, action="add_tags", params={"tags": ["Webinar"]}, selection={"q": "x.test"})
    Worker(db, name="first").run_once()
    halfway = _job(api, job["id"])
    assert (halfway["state"], halfway["processed"]) == ("running", 2)
    assert 0 < halfway["progress"] < 1
    Worker(db, name="second").drain()  # as after a restart: the queue holds the next batch
    done = _job(api, job["id"])
    assert (done["state"], done["processed"], done["changed"]) == ("done", 5, 5)
    listed = api.get("leads", params={"per_page": 200}).json()["items"]
    assert all(lead["tags"] == ["Webinar"] for lead in listed)


def test_tags_are_added_once_and_removed_whatever_their_case(api: Api, db: Engine) -> None:
    ids = _leads(
        api,
        {"email": "a@x.test", "tags": ["VIP", "trial"]},
        {"email": "b@x.test", "tags": ["trial"]},
    )
    worker = Worker(db)
    add = _start(
        api, action="add_tags", params={"tags": "vip, webinar"}, selection={"lead_ids": ids}
    )
    worker.drain()
    assert _job(api, add["id"])["changed"] == 2
    tags = {lead["email"]: lead["tags"] for lead in api.get("leads").json()["items"]}
    assert tags == {
        "a@x.test": ["VIP", "trial", "webinar"],
        "b@x.test": ["trial", "vip", "webinar"],
    }
    remove = _start(api, action="remove_tags", params={"tags": ["TRIAL"]}, selection={"q": "b@"})
    worker.drain()
    assert _job(api, remove["id"])["changed"] == 1
    tags = {lead["email"]: lead["tags"] for lead in api.get("leads").json()["items"]}
    assert tags["b@x.test"] == ["vip", "webinar"] and "trial" in tags["a@x.test"]


def test_a_segments_members_are_added_to_a_list_and_removed(api: Api, db: Engine) -> None:
    _people(api, 3, status="new")
    _leads(api, {"email": "zed@x.test", "status": "lost"})
    segment = api.post(
        "segments", json={"name": "New", "filter": {"field": "status", "op": "eq", "value": "new"}}
    ).json()
    target = api.post("lists", json={"name": "Webinar"}).json()
    worker = Worker(db)
    worker.drain()
    add = _start(
        api,
        action="add_to_list",
        params={"list_id": target["id"]},
        selection={"segment_id": segment["id"], "q": "p0"},
    )
    worker.drain()
    assert _job(api, add["id"])["changed"] == 3
    assert api.get(f"lists/{target['id']}").json()["member_count"] == 3
    remove = _start(
        api,
        action="remove_from_list",
        params={"list_id": target["id"]},
        selection={"list_id": target["id"], "q": "p01"},
    )
    worker.drain()
    assert _job(api, remove["id"])["changed"] == 1
    assert api.get(f"lists/{target['id']}").json()["member_count"] == 2


def test_an_action_whose_list_is_deleted_fails_saying_why(
    api: Api, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BATCH", 1)
    ids = _people(api, 2)
    target = api.post("lists", json={"name": "Gone soon"}).json()
    job = _start(
        api, action="add_to_list", params={"list_id": target["id"]}, selection={"lead_ids": ids}
    )
    worker = Worker(db)
    worker.run_once()
    assert api.delete(f"lists/{target['id']}", params={"force": "true"}).status_code == 204
    worker.drain()
    failed = _job(api, job["id"])
    assert (failed["state"], failed["processed"]) == ("failed", 1)
    assert failed["error"] == f"no list {target['id']} in this project"


def test_deleting_needs_an_admin_and_the_count_typed(api: Api, db: Engine) -> None:
    ids = _people(api, 3, status="lost")
    segment = api.post(
        "segments",
        json={"name": "Lost", "filter": {"field": "status", "op": "eq", "value": "lost"}},
    ).json()
    worker = Worker(db)
    worker.drain()
    lost = {"filter": {"field": "status", "op": "eq", "value": "lost"}}
    member = api.post("bulk-actions", as_="member", json={"action": "delete", "selection": lost})
    assert member.status_code == 403
    unconfirmed = api.post("bulk-actions", json={"action": "delete", "selection": lost})
    assert unconfirmed.status_code == 422
    error = unconfirmed.json()["error"]
    assert error["path"] == "confirm" and "(3)" in error["message"]
    wrong = api.post("bulk-actions", json={"action": "delete", "selection": lost, "confirm": 2})
    assert wrong.status_code == 422
    job = _start(api, "admin", action="delete", selection=lost, confirm=3)
    worker.drain()
    assert _job(api, job["id"])["changed"] == 3
    assert all(api.get(f"leads/{i}").status_code == 404 for i in ids)
    history = api.get(f"segments/{segment['id']}/history").json()["items"]
    assert sorted(h["change"] for h in history) == ["entered"] * 3 + ["exited"] * 3


def test_a_cancelled_action_stops_before_its_next_batch(
    api: Api, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BATCH", 2)
    ids = _people(api, 5, status="new")
    job = _start(api, action="set_status", params={"status": "lost"}, selection={"lead_ids": ids})
    worker = Worker(db)
    worker.run_once()
    assert api.post(f"bulk-actions/{job['id']}/cancel", as_="member").status_code == 403
    cancelled = api.post(f"bulk-actions/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    worker.drain()
    assert _job(api, job["id"])["processed"] == 2
    assert sorted(_statuses(api).values()) == ["lost", "lost", "new", "new", "new"]
    again = api.post(f"bulk-actions/{job['id']}/cancel")
    assert again.status_code == 409


def test_leads_written_after_the_ask_and_leads_deleted_before_their_batch_are_left_alone(
    api: Api, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BATCH", 1)
    ids = _people(api, 3, status="new")
    job = _start(api, action="set_owner", params={"owner": "member@acme.test"}, selection={})
    assert job["total"] == 3
    late = _leads(api, {"email": "late@x.test", "status": "new"})[0]
    assert api.delete(f"leads/{ids[2]}").status_code == 204
    Worker(db).drain()
    done = _job(api, job["id"])
    assert (done["state"], done["processed"], done["changed"]) == ("done", 2, 2)
    assert api.get(f"leads/{late}").json()["owner"] is None


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"action": "explode", "selection": {}}, "action"),
        ({"action": "set_status", "params": {"status": "nope"}, "selection": {}}, "params.status"),
        ({"action": "set_status", "selection": {}}, "params.status"),
        ({"action": "add_tags", "params": {"tags": []}, "selection": {}}, "params.tags"),
        ({"action": "add_to_list", "params": {"list_id": 999}, "selection": {}}, "params.list_id"),
        (
            {"action": "set_owner", "params": {"owner": "stranger@x.test"}, "selection": {}},
            "params.owner",
        ),
        ({"action": "delete", "params": {"x": 1}, "selection": {}}, "params"),
        (
            {"action": "set_owner", "params": {"owner": None}, "selection": {"lead_ids": [999]}},
            "selection.lead_ids",
        ),
        (
            {"action": "set_owner", "params": {"owner": None}, "selection": {"segment_id": 999}},
            "selection",
        ),
        (
            {
                "action": "set_owner",
                "params": {"owner": None},
                "selection": {"filter": {"field": "nope", "op": "eq", "value": 1}},
            },
            "selection.filter.field",
        ),
        (
            {
                "action": "set_owner",
                "params": {"owner": None},
                "selection": {"filter": {"field": "status", "op": "eq", "value": "qualified"}},
            },
            "selection",
        ),
    ],
)
def test_bad_asks_are_refused_naming_where(api: Api, body: dict[str, Any], path: str) -> None:
    _people(api, 1, status="new")
    response = api.post("bulk-actions", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["path"] == path


def test_other_tenants_see_none_of_it(api: Api, db: Engine) -> None:
    ids = _people(api, 2)
    job = _start(api, action="add_tags", params={"tags": ["x"]}, selection={"lead_ids": ids})
    assert api.get(f"bulk-actions/{job['id']}", as_="stranger").status_code == 404
    assert api.post(f"bulk-actions/{job['id']}/cancel", as_="stranger").status_code == 404
    theirs = api.post(
        "bulk-actions",
        as_="stranger",
        json={"action": "add_tags", "params": {"tags": ["x"]}, "selection": {"lead_ids": ids}},
    )
    assert theirs.status_code == 422
    mine = api.post(
        "segments",
        as_="member",
        json={"name": "Mine", "filter": {"field": "status", "op": "is_null"}},
    ).json()
    others = api.post(
        "bulk-actions",
        as_="member2",
        json={
            "action": "add_tags",
            "params": {"tags": ["x"]},
            "selection": {"segment_id": mine["id"]},
        },
    )
    assert others.status_code == 403


def test_the_record_lists_newest_first_page_by_page(api: Api, db: Engine) -> None:
    ids = _people(api, 1)
    started = [
        _start(api, action="add_tags", params={"tags": [f"t{i}"]}, selection={"lead_ids": ids})
        for i in range(3)
    ]
    first = api.get("bulk-actions", params={"limit": 2}).json()
    assert [j["id"] for j in first["items"]] == [started[2]["id"], started[1]["id"]]
    rest = api.get("bulk-actions", params={"limit": 2, "before": first["next_before"]}).json()
    assert [j["id"] for j in rest["items"]] == [started[0]["id"]]
    assert rest["next_before"] is None


def test_a_selection_exports_by_filter_or_by_ids(api: Api) -> None:
    ids = _leads(
        api,
        {"email": "a@x.test", "status": "new", "first_name": "Ann"},
        {"email": "b@x.test", "status": "lost"},
        {"email": "c@x.test", "status": "new"},
    )
    new = '{"field": "status", "op": "eq", "value": "new"}'
    by_filter = api.get("leads/export.csv", params={"filter": new, "columns": "email,status"})
    assert by_filter.status_code == 200
    assert by_filter.headers["Content-Disposition"] == 'attachment; filename="leads_export.csv"'
    assert by_filter.text.splitlines() == ["Email,Status", "a@x.test,new", "c@x.test,new"]
    by_ids = api.get("leads/export.csv", params={"ids": f"{ids[1]},{ids[0]}", "columns": "email"})
    assert by_ids.text.splitlines() == ["Email", "a@x.test", "b@x.test"]
    searched = api.get("leads/export.csv", params={"q": "ann", "columns": "name"})
    assert searched.text.splitlines() == ["Name", "Ann"]
    for params, path in [
        ({"ids": "1,x"}, "ids"),
        ({"ids": "99999"}, "ids"),
        ({"ids": str(ids[0]), "q": "a"}, "ids"),
        ({"columns": "nope"}, "columns"),
    ]:
        refused = api.get("leads/export.csv", params=params)
        assert refused.status_code == 422 and refused.json()["error"]["path"] == path, params
    theirs = api.get("leads/export.csv", as_="stranger", params={"ids": str(ids[0])})
    assert theirs.status_code == 422


def test_leads_are_included_in_and_excluded_from_a_segment_by_hand(api: Api, db: Engine) -> None:
    ids = _people(api, 4, status="lost")
    new = {"field": "status", "op": "eq", "value": "new"}
    segment = api.post("segments", as_="member", json={"name": "New", "filter": new}).json()
    refused = api.post(
        "bulk-actions",
        as_="member2",
        json={
            "action": "include_in_segment",
            "params": {"segment_id": segment["id"]},
            "selection": {"lead_ids": ids},
        },
    )
    assert refused.status_code == 403
    worker = Worker(db)
    include = _start(
        api,
        "member",
        action="include_in_segment",
        params={"segment_id": segment["id"]},
        selection={"lead_ids": ids[:3]},
    )
    worker.drain()
    assert _job(api, include["id"])["changed"] == 3
    assert api.get(f"segments/{segment['id']}/count", as_="member").json()["count"] == 3
    exclude = _start(
        api,
        "member",
        action="exclude_from_segment",
        params={"segment_id": segment["id"]},
        selection={"segment_id": segment["id"], "q": "p00"},
    )
    worker.drain()
    assert _job(api, exclude["id"])["changed"] == 1
    assert api.get(f"segments/{segment['id']}/count", as_="member").json()["count"] == 2
    history = api.get(f"segments/{segment['id']}/history", as_="member").json()["items"]
    assert sorted(h["change"] for h in history) == ["entered"] * 3 + ["exited"]
