"""An HTTP client over the real app and database, with tokens for every role and a stranger."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.app import create_app
from segmint.index import Settings as IndexSettings
from segmint.projects import Project, create_project, get_project_by_id
from segmint.store.tables import users

BASE = "/api/v1/projects/default"


@dataclass
class Api:
    client: TestClient
    project: Project
    tokens: dict[str, str]  # owner, admin, member, member2, stranger (another organization)

    def request(self, method: str, path: str, as_: str = "owner", **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[as_]}"} if as_ else {}
        url = path if path.startswith("/") else f"{BASE}/{path}"
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, path: str, as_: str = "owner", **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, as_, **kwargs)

    def post(self, path: str, as_: str = "owner", **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, as_, **kwargs)

    def patch(self, path: str, as_: str = "owner", **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, as_, **kwargs)

    def put(self, path: str, as_: str = "owner", **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, as_, **kwargs)

    def delete(self, path: str, as_: str = "owner", **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, as_, **kwargs)


def _user_id(conn: Any, email: str) -> int:
    return int(conn.execute(sa.select(users.c.id).where(users.c.email == email)).scalar_one())


def _user_token(conn: Any, org_id: int, email: str, role: str) -> str:
    user_id = auth.create_user(conn, org_id, email, role)
    return auth.issue_token(conn, user_id)


@pytest.fixture
def api_index() -> IndexSettings:
    """The `api` app's columnar index: on, built when a project is first asked about (not in
    the background), so each test knows which engine answers. A module may override this."""
    return IndexSettings(background=False)


@pytest.fixture
def api(db: Engine, project: Project, api_index: IndexSettings) -> Iterator[Api]:
    with db.begin() as conn:
        tokens = {
            "owner": auth.issue_token(conn, _user_id(conn, "owner@acme.test")),
            "admin": _user_token(conn, project.organization_id, "admin@acme.test", "admin"),
            "member": _user_token(conn, project.organization_id, "member@acme.test", "member"),
            "member2": _user_token(conn, project.organization_id, "member2@acme.test", "member"),
        }
        stranger_org = auth.create_organization(conn, "Globex")
        create_project(conn, stranger_org, "default")
        tokens["stranger"] = _user_token(conn, stranger_org, "boss@globex.test", "owner")
    with TestClient(create_app(db, index=api_index)) as client:
        yield Api(client, project, tokens)


def refresh_project(db: Engine, project: Project) -> Project:
    with db.connect() as conn:
        return get_project_by_id(conn, project.id)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert {"code", "message"} <= set(error)
    return error
