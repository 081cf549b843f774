"""`segmint projects ...` against a real database, on both backends."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from segmint.cli import app
from segmint.ingest import upsert_leads
from segmint.projects import Project, get_project

runner = CliRunner()


def _run(db_url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--database-url", db_url])
    return result.exit_code, result.stdout, result.stderr


def test_create_list_rename_delete(db: Engine, db_url: str, project: Project) -> None:
    code, out, err = _run(db_url, "projects", "create", "emea", "--name", "EMEA sales")
    assert code == 0, err
    assert out.splitlines() == ["Project 'EMEA sales' created.", "emea"]
    code, out, _ = _run(db_url, "projects", "list")
    assert code == 0 and "default" in out and "EMEA sales" in out

    code, out, err = _run(db_url, "projects", "rename", "emea", "--slug", "europe", "--name", "EU")
    assert (code, out.strip()) == (0, "Project renamed: 'EU' (europe)."), err
    with db.connect() as conn:
        assert get_project(conn, project.organization_id, "europe").name == "EU"

    code, out, err = _run(db_url, "projects", "delete", "europe")
    assert (code, out.strip()) == (0, "Project 'europe' deleted."), err
    code, _, err = _run(db_url, "projects", "delete", "europe")
    assert code == 1 and "no project 'europe'" in err


def test_errors_name_what_is_wrong(db: Engine, db_url: str, project: Project) -> None:
    code, _, err = _run(db_url, "projects", "create", "Bad Slug")
    assert code == 1 and "slug" in err and "lower-case letters" in err
    code, _, err = _run(db_url, "projects", "create", "default")
    assert code == 1 and "a project 'default' already exists" in err
    code, _, err = _run(db_url, "projects", "rename", "default")
    assert code == 2 and "--name" in err

    upsert_leads(db, project, enumerate([{"email": "a@x.test"}]))
    _run(db_url, "projects", "create", "spare")
    code, _, err = _run(db_url, "projects", "delete", "default")
    assert code == 1 and "still holds 1 lead:" in err
