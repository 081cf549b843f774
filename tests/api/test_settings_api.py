"""Project settings, the organization's users and each caller's tokens."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.store.tables import work_items
from tests.api.conftest import Api, error_of


def test_settings_read_by_all_changed_by_admins(api: Api) -> None:
    settings = api.get("settings", as_="member").json()
    assert settings["statuses"] == list(api.project.statuses)
    change = {"name": "Sales", "statuses": ["new", "won", "qualified"]}
    assert api.patch("settings", as_="member", json=change).status_code == 403
    changed = api.patch("settings", as_="admin", json=change)
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Sales"
    assert changed.json()["statuses"] == ["new", "won", "qualified"]
    assert api.post("leads", json={"email": "w@x.test", "status": "won"}).status_code == 201


def test_a_status_in_use_cannot_be_removed(api: Api) -> None:
    api.post("leads", json={"email": "c@x.test", "status": "contacted"})
    keep = [s for s in api.project.statuses if s != "contacted"]
    response = api.patch("settings", json={"statuses": keep})
    assert response.status_code == 409
    assert "carried by 1 leads" in error_of(response)["message"]


def test_bad_settings_name_the_field(api: Api) -> None:
    zone = api.patch("settings", json={"timezone": "Mars/Olympus"})
    assert zone.status_code == 422 and error_of(zone)["path"] == "timezone"
    twice = api.patch("settings", json={"statuses": ["new", "New"]})
    assert twice.status_code == 422 and error_of(twice)["path"] == "statuses[1]"
    converted = api.patch("settings", json={"statuses": ["new"], "converted_status": "won"})
    assert converted.status_code == 422 and error_of(converted)["path"] == "converted_status"


def test_a_new_time_zone_resyncs_active_segments(api: Api, db: Engine) -> None:
    filter_ = {"field": "created_at", "op": "in_period", "value": "today"}
    active = api.post("segments", json={"name": "Today", "filter": filter_}).json()["id"]
    api.post("segments", json={"name": "Off", "filter": filter_, "active": False})
    with db.begin() as conn:
        conn.execute(work_items.delete())
    api.patch("settings", json={"timezone": "Pacific/Auckland"})
    with db.connect() as conn:
        queued = conn.execute(sa.select(work_items.c.payload)).scalars().all()
    assert queued == [{"segment_id": active, "reason": "settings"}]


def test_users_are_managed_by_admins(api: Api) -> None:
    assert api.get("/api/v1/users", as_="member").status_code == 403
    listed = api.get("/api/v1/users", as_="admin").json()["items"]
    assert {u["email"] for u in listed} == {
        "owner@acme.test",
        "admin@acme.test",
        "member@acme.test",
        "member2@acme.test",
    }  # not the other organization's
    made = api.post("/api/v1/users", as_="admin", json={"email": "New@Acme.test"})
    assert made.status_code == 201 and made.json()["role"] == "member"
    assert (
        api.post("/api/v1/users", as_="admin", json={"email": "new@acme.test"}).status_code == 409
    )
    owner = api.post("/api/v1/users", as_="admin", json={"email": "o@acme.test", "role": "owner"})
    assert owner.status_code == 403


def test_tokens_are_shown_once_listed_by_prefix_and_revocable(api: Api) -> None:
    issued = api.post("/api/v1/tokens", as_="member", json={"name": "CRM", "project": "default"})
    assert issued.status_code == 201
    token = issued.json()["token"]
    listed = api.get("/api/v1/tokens", as_="member").json()["items"]
    mine = next(t for t in listed if t["name"] == "CRM")
    assert mine["prefix"] == issued.json()["prefix"] and mine["project"] == "default"
    assert token not in str(listed)
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/projects/default/segments", headers=headers).status_code == 200
    other = api.delete(f"/api/v1/tokens/{mine['prefix']}", as_="member2")
    assert other.status_code == 404  # someone else's token
    assert api.delete(f"/api/v1/tokens/{mine['prefix']}", as_="member").status_code == 204
    assert api.client.get("/api/v1/projects/default/segments", headers=headers).status_code == 401
    unknown = api.post("/api/v1/tokens", json={"name": "x", "project": "nope"})
    assert unknown.status_code == 404
