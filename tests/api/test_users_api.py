"""The users API: who may manage which users, and what a password must be."""

from __future__ import annotations

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
