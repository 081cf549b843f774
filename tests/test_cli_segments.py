"""`segmint segments ...` against a real database, on both backends."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from segmint.cli import app
from segmint.engine import lists as lists_engine
from segmint.ingest import upsert_leads
from segmint.projects import Project
from segmint.store.tables import leads
from tests.csv_formulas import FORMULA_LEADS, FORMULA_ROWS, write_untrimmed

runner = CliRunner()


def _run(db_url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--database-url", db_url])
    return result.exit_code, result.stdout, result.stderr


def _seed(db: Engine, project: Project) -> None:
    records = [
        {
            "email": "ada@x.test",
            "name": "Ada Lovelace",
            "status": "new",
            "company": "Engines",
            "enrichment": {"company": {"size": 120}},
        },
        {"email": "bob@x.test", "name": "Bob Stone", "status": "contacted"},
        {"email": "cy@x.test", "name": "Cy Young", "status": "new"},
    ]
    upsert_leads(db, project, enumerate(records))


def test_create_list_show_count_members_export(
    db: Engine, db_url: str, project: Project, tmp_path: Path
) -> None:
    _seed(db, project)
    code, out, err = _run(
        db_url,
        "segments",
        "create",
        "New leads",
        "--where",
        'status = "new" and not enrichment.company.size < 100',
    )
    assert code == 0, err
    assert out.splitlines()[0] == "Segment created successfully with 2 members"
    segment_id = out.splitlines()[-1]

    code, out, _ = _run(db_url, "segments", "count", segment_id)
    assert (code, out.strip()) == (0, "2")  # Cy has no size: `not (size < 100)` holds

    code, out, _ = _run(db_url, "segments", "show", segment_id)
    assert "New leads" in out and 'status = "new"' in out and "members: 2" in out

    code, out, _ = _run(db_url, "segments", "list")
    assert code == 0 and "New leads" in out

    code, out, _ = _run(db_url, "segments", "members", segment_id)
    assert code == 0 and "ada@x.test" in out and "cy@x.test" in out and "bob@x.test" not in out

    target = tmp_path / "new.csv"
    code, _, err = _run(db_url, "segments", "export", segment_id, "-o", str(target))
    assert code == 0 and "Exported 2 members" in err
    assert target.read_text() == (
        "Name,Email,Phone,Company,Job Title,Source,Status\n"
        "Ada Lovelace,ada@x.test,,Engines,,,new\n"
        "Cy Young,cy@x.test,,,,,new\n"
    )


def test_export_defuses_spreadsheet_formulas(
    db: Engine, db_url: str, project: Project, tmp_path: Path
) -> None:
    records = [{**lead, "status": "new"} for lead in FORMULA_LEADS]
    upsert_leads(db, project, enumerate(records))
    write_untrimmed(db, project.id, "f4@x.test")
    code, out, err = _run(db_url, "segments", "create", "New", "--where", 'status = "new"')
    assert code == 0, err
    target = tmp_path / "new.csv"
    code, _, err = _run(db_url, "segments", "export", out.splitlines()[-1], "-o", str(target))
    assert code == 0, err
    with target.open(newline="") as exported:
        assert list(csv.reader(exported))[1:] == FORMULA_ROWS


def test_errors_are_one_clear_line(db_url: str, project: Project) -> None:
    code, _, err = _run(db_url, "segments", "create", "Bad", "--where", 'status = "new" and')
    assert code == 1 and "line 1" in err and "column" in err
    code, _, err = _run(db_url, "segments", "count", "999")
    assert code == 1 and "no segment 999" in err
    code, _, err = _run(db_url, "segments", "list", "--project", "nope")
    assert code == 1 and "no project 'nope'" in err


def test_export_chosen_columns(db: Engine, db_url: str, project: Project, tmp_path: Path) -> None:
    records = [
        {"email": "ada@x.test", "name": "Ada Lovelace", "status": "new", "tags": ["vip", "beta"]},
        {"email": "cy@x.test", "name": "Cy Young", "status": "new", "country": "Peru"},
    ]
    upsert_leads(db, project, enumerate(records))
    code, out, err = _run(db_url, "segments", "create", "New", "--where", 'status = "new"')
    assert code == 0, err
    segment_id = out.splitlines()[-1]
    code, out, err = _run(db_url, "segments", "export", segment_id, "--columns", "email,tags")
    assert code == 0, err
    assert out == "Email,Tags\nada@x.test,vip; beta\ncy@x.test,\n"
    target = tmp_path / "one.csv"
    args = ("segments", "export", segment_id, "--columns", "country", "-o", str(target))
    code, _, err = _run(db_url, *args)
    assert code == 0 and "Exported 2 members" in err
    assert target.read_text() == "Country\n\nPeru\n"

    code, _, err = _run(db_url, "segments", "export", segment_id, "--columns", "email,salary")
    assert code == 1 and "unknown column 'salary'; choose from name, email" in err
    code, _, err = _run(db_url, "segments", "export", segment_id, "--columns", "name,name")
    assert code == 1 and "column 'name' is chosen twice" in err


def test_overlap_prints_each_region(db: Engine, db_url: str, project: Project) -> None:
    _seed(db, project)
    code, out, err = _run(db_url, "segments", "create", "New", "--where", 'status = "new"')
    assert code == 0, err
    new = out.splitlines()[-1]
    code, out, err = _run(db_url, "segments", "create", "Ada", "--where", 'email = "ada@x.test"')
    assert code == 0, err
    ada = out.splitlines()[-1]
    with db.begin() as conn:
        list_id = lists_engine.create_list(conn, project, {"name": "Webinar"}, None)
        query = sa.select(leads.c.id).where(leads.c.project_id == project.id)
        ids = conn.execute(query.order_by(leads.c.email)).scalars().all()
        lists_engine.add_members(conn, project, list_id, ids[:2])  # Ada and Bob

    code, out, err = _run(db_url, "segments", "overlap", new, f"list:{list_id}", f"segment:{ada}")
    assert code == 0, err
    assert out.splitlines() == [
        f"A  segment {new}: New (2 leads)",
        f"B  segment {ada}: Ada (1 leads)",
        f"C  list {list_id}: Webinar (2 leads)",
        "in at least one: 3",
        "         1  A, not B C",  # Cy
        "         0  B, not A C",
        "         1  C, not A B",  # Bob
        "         0  A and B, not C",
        "         0  A and C, not B",
        "         0  B and C, not A",
        "         1  A and B and C",  # Ada
    ]
    code, out, err = _run(db_url, "segments", "overlap", new, f"list:{list_id}", "--json")
    answer = json.loads(out)
    assert [r["count"] for r in answer["regions"]] == [1, 1, 1]
    assert answer["pairs"][0]["count"] == 1

    code, _, err = _run(db_url, "segments", "overlap", new)
    assert code == 1 and "segments: compare 2 to 4" in err
    code, _, err = _run(db_url, "segments", "overlap", new, "team:4")
    assert code == 1 and "audiences[1]: 'team:4' is not a segment id" in err
    code, _, err = _run(db_url, "segments", "overlap", new, "list:999999")
    assert code == 1 and "no list 999999" in err
