"""The application shell: health, OpenAPI, docs and the home page, on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from segmint import __version__
from segmint.app import create_app
from segmint.store.db import create_engine


@pytest.fixture
def client(db: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(db)) as client:
        yield client


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"]) == ("ok", "ok")
    assert {"enabled", "memory_budget_bytes", "memory_used_bytes", "projects"} <= set(body["index"])


def test_healthz_reports_an_unreachable_database() -> None:
    engine = create_engine("sqlite:////nonexistent-dir/segmint.db", poolclass=sa.NullPool)
    with TestClient(create_app(engine)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "error"


def test_openapi_document(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Segmint"
    assert document["info"]["version"] == __version__
    assert "/healthz" in document["paths"]
    assert any(path.startswith("/api/v1/projects/{project}/") for path in document["paths"])
    assert "/" not in document["paths"]  # pages are not part of the API


def test_docs_page(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/api/v1/openapi.json" in response.text


def test_home_page_asks_to_log_in(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/"
    page = client.get("/login")
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.lstrip().lower().startswith("<!doctype html>")
    assert "<title>Log in · Segmint</title>" in page.text


def test_unknown_paths_answer_with_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
