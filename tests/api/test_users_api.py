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
