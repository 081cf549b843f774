"""The users API: who may manage which users, and what a password must be."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from segmint import auth
from segmint.worker.loop import Worker
from tests.api.conftest import Api, error_of


def test_a_weak_password_is_a_422_naming_the_field_and_the_rule(api: Api) -> None:
    for password in ("short", "password2024", "1234567890", "xxxxxxxxxxxx", "ada.lovelace1"):
        response = api.post(
            "/api/v1/users", json={"email": "ada.lovelace@acme.test", "password": password}
        )
        assert response.status_code == 422, (password, response.text)
        error = error_of(response)
        assert error["path"] == "password"
        assert "a password needs at least 10 characters" in error["message"], error
    emails = [u["email"] for u in api.get("/api/v1/users").json()["items"]]
    assert "ada.lovelace@acme.test" not in emails  # nothing half-written
    good = {"email": "ada.lovelace@acme.test", "password": "analytical engine"}
    assert api.post("/api/v1/users", json=good).status_code == 201


def _project_token(api: Api, as_: str) -> str:
    """A token of `as_` limited to project `default`."""
    response = api.post("/api/v1/tokens", as_, json={"name": "one project", "project": "default"})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def test_a_token_limited_to_one_project_cannot_manage_organization_users(api: Api) -> None:
    """Users reach every project of the organization: a project token may not add or list them,
    whatever its user's role; an organization-wide admin still may (not owners)."""
    for role in ("admin", "owner"):
        api.tokens[f"{role}-project"] = _project_token(api, role)
        new = {"email": f"via-{role}@acme.test", "role": "member"}
        for response in (
            api.post("/api/v1/users", f"{role}-project", json=new),
            api.get("/api/v1/users", f"{role}-project"),
        ):
            assert response.status_code == 403, response.text
            assert "limited to one project" in error_of(response)["message"]
    emails = [u["email"] for u in api.get("/api/v1/users").json()["items"]]
    assert not [e for e in emails if e.startswith("via-")]
    assert api.post("/api/v1/users", "admin", json={"email": "n@acme.test"}).status_code == 201
    owner = {"email": "o@acme.test", "role": "owner"}
    assert api.post("/api/v1/users", "admin", json=owner).status_code == 403
    # The project token still does its project's work.
    assert api.get("segments", "admin-project").status_code == 200


def test_adding_a_user_does_not_tell_whether_another_organization_has_the_email(
    api: Api,
) -> None:
    """boss@globex.test is a user of the stranger's organization: adding it here answers just
    as for an address no one has, and creates our own user; their user is untouched."""
    answers = [
        api.post("/api/v1/users", "admin", json={"email": email, "role": "member"})
        for email in ("boss@globex.test", "nobody-yet@globex.test")
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert {k for k in answers[0].json() if k not in ("id", "email", "created_at")} == {
        k for k in answers[1].json() if k not in ("id", "email", "created_at")
    }
    again = api.post("/api/v1/users", "admin", json={"email": "boss@globex.test"})
    assert again.status_code == 409  # a duplicate within our own organization is still one
    assert "in this organization" in error_of(again)["message"]
    theirs = api.get("/api/v1/users", "stranger").json()["items"]
    assert [(u["email"], u["role"]) for u in theirs] == [("boss@globex.test", "owner")]
    assert api.get("/api/v1/projects/default/segments", "stranger").status_code == 200


def _users(api: Api, as_: str = "owner") -> dict[str, dict[str, Any]]:
    return {u["email"]: u for u in api.get("/api/v1/users", as_).json()["items"]}


def test_roles_change_by_who_may_and_the_organization_keeps_an_owner(api: Api) -> None:
    ids = {email: user["id"] for email, user in _users(api).items()}
    member, admin, owner = ids["member@acme.test"], ids["admin@acme.test"], ids["owner@acme.test"]
    promoted = api.patch(f"/api/v1/users/{member}", "admin", json={"role": "admin"})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "admin"
    refused = {
        "an admin makes an owner": api.patch(
            f"/api/v1/users/{member}", "admin", json={"role": "owner"}
        ),
        "an admin changes an owner": api.patch(
            f"/api/v1/users/{owner}", "admin", json={"role": "member"}
        ),
        "a member changes anyone": api.patch(
            f"/api/v1/users/{admin}", "member2", json={"role": "member"}
        ),
    }
    assert {why: r.status_code for why, r in refused.items()} == dict.fromkeys(refused, 403)
    assert (
        api.patch(f"/api/v1/users/{member}", "stranger", json={"role": "member"}).status_code == 404
    )  # another organization's user is not one of theirs
    bad = api.patch(f"/api/v1/users/{member}", json={"role": "boss"})
    assert bad.status_code == 422 and error_of(bad)["path"] == "role", bad.text

    last = api.patch(f"/api/v1/users/{owner}", json={"role": "admin"})
    assert last.status_code == 409, last.text
    assert "last owner" in error_of(last)["message"]
    assert _users(api)["owner@acme.test"]["role"] == "owner"  # nothing half-changed
    assert api.patch(f"/api/v1/users/{admin}", json={"role": "owner"}).status_code == 200
    stepped_down = api.patch(f"/api/v1/users/{owner}", json={"role": "member"})
    assert stepped_down.status_code == 200, stepped_down.text
    roles = {email: user["role"] for email, user in _users(api, "admin").items()}
    assert roles["owner@acme.test"] == "member" and roles["admin@acme.test"] == "owner"
    assert api.get("/api/v1/users").status_code == 403  # the old owner is a member now


def test_a_removed_user_is_locked_out_at_once_and_what_they_made_stays(
    api: Api, db: Engine
) -> None:
    made = api.post(
        "segments",
        "member",
        json={"name": "Mine", "filter": {"field": "status", "op": "eq", "value": "new"}},
    )
    assert made.status_code == 201, made.text
    member = _users(api)["member@acme.test"]["id"]
    with db.begin() as conn:
        auth.set_password(conn, member, "correct horse battery")
        session = auth.start_session(conn, member)
    assert api.get("segments", "member").status_code == 200

    assert api.delete(f"/api/v1/users/{member}", "member2").status_code == 403
    assert api.delete(f"/api/v1/users/{member}", "stranger").status_code == 404
    assert api.delete(f"/api/v1/users/{member}", "admin").status_code == 204

    assert api.get("segments", "member").status_code == 401  # their token, revoked
    with db.begin() as conn:
        assert auth.authenticate_session(conn, session) is None
        assert auth.authenticate_password(conn, "member@acme.test", "correct horse battery") is None
    assert "member@acme.test" not in _users(api)
    listed = api.get("/api/v1/users", params={"include_removed": "true"}).json()["items"]
    assert listed[-1]["email"] == "member@acme.test" and listed[-1]["removed_at"]
    assert not [u for u in listed[:-1] if u["removed_at"]]  # the others first, none removed
    assignees = api.get("assignees").json()["items"]
    assert "member@acme.test" not in [a["email"] for a in assignees]
    lead = api.post("leads", json={"email": "l@x.test", "owner": "member@acme.test"})
    assert lead.status_code == 422 and error_of(lead)["path"] == "owner", lead.text
    kept = api.get(f"segments/{made.json()['id']}")
    assert kept.status_code == 200 and kept.json()["name"] == "Mine"  # their segment stays
    assert api.delete(f"/api/v1/users/{member}", "admin").status_code == 404  # already gone

    back = api.post("/api/v1/users", "admin", json={"email": "member@acme.test"})
    assert back.status_code == 201, back.text
    assert back.json()["id"] == member  # the same user: their segments are theirs again
    assert api.get("segments", "member").status_code == 401  # old tokens stay revoked
    with db.begin() as conn:
        token = auth.issue_token(conn, member)
    api.tokens["member"] = token
    mine = api.get("segments", "member").json()["items"]
    assert [s["name"] for s in mine] == ["Mine"]


def test_the_last_owner_cannot_be_removed(api: Api) -> None:
    ids = {email: user["id"] for email, user in _users(api).items()}
    owner = ids["owner@acme.test"]
    assert api.delete(f"/api/v1/users/{owner}", "admin").status_code == 403
    last = api.delete(f"/api/v1/users/{owner}")
    assert last.status_code == 409, last.text
    assert "last owner" in error_of(last)["message"]
    assert "path" not in error_of(last)  # a removal names no field
    assert api.get("/api/v1/users").status_code == 200  # still in, token and all
    admin = ids["admin@acme.test"]
    assert api.patch(f"/api/v1/users/{admin}", json={"role": "owner"}).status_code == 200
    assert api.delete(f"/api/v1/users/{owner}").status_code == 204  # another owner remains
    assert api.get("/api/v1/users").status_code == 401


def test_a_removed_users_leads_can_be_given_to_a_teammate(api: Api, db: Engine) -> None:
    """In every project: a bulk action per project sets the owner, through the usual write
    rules (a segment on the owner follows); leads owned by others stay as they are."""
    assert api.post("/api/v1/projects", json={"slug": "second"}).status_code == 201
    for path in ("leads/bulk", "/api/v1/projects/second/leads/bulk"):
        leads = [
            {"email": "a@x.test", "owner": "member@acme.test"},
            {"email": "b@x.test", "owner": "member@acme.test"},
            {"email": "c@x.test", "owner": "member2@acme.test"},
        ]
        assert api.post(path, json={"leads": leads}).status_code == 200
    admins = {"field": "owner", "op": "eq", "value": "admin@acme.test"}
    segment = api.post("segments", json={"name": "Admin's", "filter": admins}).json()
    member = _users(api)["member@acme.test"]["id"]

    for to, message in (
        ("member@acme.test", "give their leads to someone else"),
        ("nobody@acme.test", "is not a user of this organization"),
    ):
        refused = api.delete(f"/api/v1/users/{member}", params={"reassign_to": to})
        assert refused.status_code == 422, refused.text
        assert error_of(refused)["path"] == "reassign_to"
        assert message in error_of(refused)["message"]
    assert "member@acme.test" in _users(api)  # not removed either

    removed = api.delete(f"/api/v1/users/{member}", params={"reassign_to": "Admin@acme.test"})
    assert removed.status_code == 204, removed.text
    Worker(db).drain()
    for prefix in ("", "/api/v1/projects/second/"):
        owners = {
            lead["email"]: lead["owner"] for lead in api.get(f"{prefix}leads").json()["items"]
        }
        assert owners == {
            "a@x.test": "admin@acme.test",
            "b@x.test": "admin@acme.test",
            "c@x.test": "member2@acme.test",
        }
        actions = api.get(f"{prefix}bulk-actions").json()["items"]
        assert [(a["action"], a["state"], a["changed"]) for a in actions] == [
            ("set_owner", "done", 2)
        ]
    history = api.get(f"segments/{segment['id']}/history").json()["items"]
    assert sorted(entry["lead_email"] for entry in history) == ["a@x.test", "b@x.test"]
