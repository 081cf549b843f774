"""Refreshing an inactive segment by hand (POST /segments/{id}/refresh), over HTTP on both
databases: its frozen members brought to the filter's answer once, with the history rows and
webhooks the worker writes for an active segment, and `last_evaluated_at` stamped."""

from __future__ import annotations

from typing import Any

from segmint.worker.loop import Worker
from tests.api.conftest import Api, error_of

NEW = {"field": "status", "op": "eq", "value": "new"}


def _leads(api: Api) -> dict[str, int]:
    rows = [
        {"email": "ada@x.test", "status": "new"},
        {"email": "bob@x.test", "status": "new"},
        {"email": "cy@x.test", "status": "lost"},
    ]
    assert api.post("leads/bulk", json={"leads": rows}).status_code == 200
    page = api.get("leads", params={"per_page": 10}).json()["items"]
    return {lead["email"]: lead["id"] for lead in page}


def _segment(api: Api, active: bool, name: str = "New", as_: str = "owner") -> Any:
    body = {"name": name, "filter": NEW, "active": active}
    response = api.post("segments", as_, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _changes(api: Api, segment_id: int) -> set[tuple[int, str]]:
    items = api.get(f"segments/{segment_id}/history").json()["items"]
    return {(h["lead_id"], h["change"]) for h in items}


def test_a_refresh_records_what_the_worker_records_and_stays_inactive(api: Api) -> None:
    ids = _leads(api)
    worker = Worker(api.client.app.state.engine)  # type: ignore[attr-defined]
    frozen = _segment(api, active=False, name="Frozen")
    live = _segment(api, active=True, name="Live")  # the worker keeps this one: the yardstick
    worker.drain()
    counted = api.get(f"segments/{frozen['id']}/count").json()
    assert (counted["count"], counted["frozen"]) == (0, True)  # created inactive: no members

    done = api.post(f"segments/{frozen['id']}/refresh")
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["entered"], body["exited"], body["member_count"]) == (2, 0, 2)
    assert _changes(api, frozen["id"]) == _changes(api, live["id"])
    reasons = {h["reason"] for h in api.get(f"segments/{frozen['id']}/history").json()["items"]}
    assert reasons == {"refresh"}
    after = api.get(f"segments/{frozen['id']}").json()
    assert after["active"] is False and after["last_evaluated_at"] == body["refreshed_at"]

    # Ada changes: the active segment follows at once; the frozen one only when refreshed.
    api.patch(f"leads/{ids['ada@x.test']}", json={"status": "lost"})
    api.patch(f"leads/{ids['cy@x.test']}", json={"status": "new"})
    worker.drain()
    assert api.get(f"segments/{frozen['id']}/count").json()["count"] == 2
    members = api.get(f"segments/{frozen['id']}/members").json()["items"]
    assert {m["email"] for m in members} == {"ada@x.test", "bob@x.test"}
    body = api.post(f"segments/{frozen['id']}/refresh").json()
    assert (body["entered"], body["exited"], body["member_count"]) == (1, 1, 2)
    assert _changes(api, frozen["id"]) == _changes(api, live["id"])
    members = api.get(f"segments/{frozen['id']}/members").json()["items"]
    assert {m["email"] for m in members} == {"bob@x.test", "cy@x.test"}
    again = api.post(f"segments/{frozen['id']}/refresh").json()
    assert (again["entered"], again["exited"]) == (0, 0)  # nothing changed, nothing recorded
    assert api.get(f"segments/{frozen['id']}").json()["active"] is False


def test_a_refresh_queues_the_webhooks_of_each_change(api: Api) -> None:
    _leads(api)
    frozen = _segment(api, active=False)
    hook = api.post(
        "webhooks", json={"url": "https://crm.example.com/hooks", "segment_id": frozen["id"]}
    ).json()
    assert api.post(f"segments/{frozen['id']}/refresh").json()["entered"] == 2
    assert api.get(f"webhooks/{hook['id']}").json()["pending"] == 2


def test_an_active_segment_is_always_current(api: Api) -> None:
    live = _segment(api, active=True)
    refused = api.post(f"segments/{live['id']}/refresh")
    assert refused.status_code == 409
    assert "always current" in error_of(refused)["message"]


def test_who_may_refresh(api: Api) -> None:
    _leads(api)
    mine = _segment(api, active=False, as_="member")
    assert api.post(f"segments/{mine['id']}/refresh", "member").status_code == 200
    assert api.post(f"segments/{mine['id']}/refresh", "member2").status_code == 403
    assert api.post(f"segments/{mine['id']}/refresh", "admin").status_code == 403
    assert api.post(f"segments/{mine['id']}/refresh", "owner").status_code == 200
    assert api.post(f"segments/{mine['id']}/refresh", "stranger").status_code == 404
    assert api.post("segments/999999/refresh").status_code == 404
