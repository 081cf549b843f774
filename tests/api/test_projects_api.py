"""/projects over HTTP on both databases: owners and admins create, rename and delete empty
projects; slugs are checked and unique; a project holding anything is not deleted."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.store.tables import projects, users, work_items
from tests.api.conftest import Api, error_of


def _create(api: Api, slug: str, as_: str = "owner", **fields: str) -> dict[str, str]:
    response = api.post("/api/v1/projects", as_, json={"slug": slug, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def test_create_rename_and_delete_an_empty_project(api: Api) -> None:
    created = _create(api, "emea-sales", name="EMEA sales", timezone="Europe/Paris")
    assert created == {"slug": "emea-sales", "name": "EMEA sales", "timezone": "Europe/Paris"}
    listed = api.get("/api/v1/projects").json()["items"]
    assert [p["slug"] for p in listed] == ["default", "emea-sales"]
    # It works as a project at once: its own (empty) segments and settings.
    assert api.get("/api/v1/projects/emea-sales/segments").json() == {"items": []}

    renamed = api.patch("/api/v1/projects/emea-sales", "admin", json={"name": "Europe"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Europe"
    moved = api.patch("/api/v1/projects/emea-sales", json={"slug": "europe"})
    assert moved.json() == {"slug": "europe", "name": "Europe", "timezone": "Europe/Paris"}
    assert api.get("/api/v1/projects/emea-sales/settings").status_code == 404
    assert api.get("/api/v1/projects/europe/settings").json()["name"] == "Europe"

    assert api.delete("/api/v1/projects/europe", "admin").status_code == 204
    assert api.get("/api/v1/projects/europe/settings").status_code == 404
    assert [p["slug"] for p in api.get("/api/v1/projects").json()["items"]] == ["default"]
    assert _create(api, "europe")["name"] == "europe"  # the slug is free again; name defaults


def test_slugs_are_checked_and_unique(api: Api) -> None:
    for slug in ("Emea", "-emea", "emea sales", "", "x" * 65, "emea\n"):
        refused = api.post("/api/v1/projects", json={"slug": slug})
        assert refused.status_code == 422, slug
        error = error_of(refused)
        assert error["path"] == "slug" and "lower-case letters" in error["message"]
    taken = api.post("/api/v1/projects", json={"slug": "default"})
    assert taken.status_code == 409
    assert error_of(taken) == {
        "code": "conflict",
        "message": "a project 'default' already exists",
        "path": "slug",
    }
    _create(api, "second")
    clash = api.patch("/api/v1/projects/second", json={"slug": "default"})
    assert clash.status_code == 409 and error_of(clash)["path"] == "slug"
    bad = api.patch("/api/v1/projects/second", json={"slug": "Not OK"})
    assert bad.status_code == 422 and error_of(bad)["path"] == "slug"
    assert error_of(api.patch("/api/v1/projects/second", json={"name": " "}))["path"] == "name"
    zone = api.post("/api/v1/projects", json={"slug": "third", "timezone": "Mars/Base"})
    assert zone.status_code == 422 and error_of(zone)["path"] == "timezone"
    # Another organization may use the same slug: slugs are unique per organization.
    assert api.post("/api/v1/projects", "stranger", json={"slug": "second"}).status_code == 201


def test_a_project_holding_anything_is_not_deleted(api: Api) -> None:
    _create(api, "busy")
    base = "/api/v1/projects/busy"
    assert api.post(f"{base}/leads", json={"email": "a@x.test"}).status_code == 201
    segment = {"name": "All", "filter": {"field": "email", "op": "is_not_null"}}
    assert api.post(f"{base}/segments", json=segment).status_code == 201
    refused = api.delete(base)
    assert refused.status_code == 409
    assert error_of(refused)["message"] == (
        "project 'busy' still holds 1 lead, 1 segment: delete them first"
    )
    assert api.get(f"{base}/segments").json()["items"][0]["name"] == "All"


def test_settings_and_logs_go_with_an_emptied_project(api: Api, db: Engine) -> None:
    _create(api, "trial")
    base = "/api/v1/projects/trial"
    field = {"key": "plan", "type": "text"}
    assert api.post(f"{base}/custom-fields", json=field).status_code == 201
    segment = {"name": "All", "filter": {"field": "email", "op": "is_not_null"}}
    made = api.post(f"{base}/segments", json=segment).json()  # queues work for the worker
    assert api.delete(f"{base}/segments/{made['id']}").status_code == 204
    with db.connect() as conn:
        trial = conn.execute(sa.select(projects.c.id).where(projects.c.slug == "trial")).scalar()
        queued = sa.select(sa.func.count()).where(work_items.c.project_id == trial)
        assert conn.execute(queued).scalar() == 1  # the segment's sync, never run
    assert api.delete(base).status_code == 204
    with db.connect() as conn:
        assert conn.execute(sa.select(projects.c.id).where(projects.c.id == trial)).first() is None
        assert conn.execute(queued).scalar() == 0  # no work left for a project that is gone


def test_the_only_project_is_not_deleted(api: Api) -> None:
    refused = api.delete("/api/v1/projects/default")
    assert refused.status_code == 409
    assert error_of(refused)["message"] == "project 'default' is the organization's only project"


def test_roles_tokens_and_tenants(api: Api, db: Engine) -> None:
    refused = api.post("/api/v1/projects", "member", json={"slug": "mine"})
    assert refused.status_code == 403 and "owner or admin" in error_of(refused)["message"]
    _create(api, "shared", "admin")
    assert api.patch("/api/v1/projects/shared", "member", json={"name": "X"}).status_code == 403
    assert api.delete("/api/v1/projects/shared", "member").status_code == 403
    assert api.delete("/api/v1/projects/shared", "stranger").status_code == 404
    assert api.patch("/api/v1/projects/shared", "stranger", json={"name": "X"}).status_code == 404
    assert "shared" not in str(api.get("/api/v1/projects", "stranger").json())
    # A token limited to one project sees that one, and manages none.
    with db.begin() as conn:
        owner = conn.execute(
            sa.select(users.c.id).where(users.c.email == "owner@acme.test")
        ).scalar_one()
        default = conn.execute(
            sa.select(projects.c.id).where(
                projects.c.slug == "default",
                projects.c.organization_id == api.project.organization_id,
            )
        ).scalar_one()
        limited = auth.issue_token(conn, owner, project_id=default)
    api.tokens["limited"] = limited
    assert [p["slug"] for p in api.get("/api/v1/projects", "limited").json()["items"]] == [
        "default"
    ]
    assert api.post("/api/v1/projects", "limited", json={"slug": "more"}).status_code == 403
    assert api.delete("/api/v1/projects/shared", "limited").status_code == 403
    assert api.delete("/api/v1/projects/default", "limited").status_code == 403
