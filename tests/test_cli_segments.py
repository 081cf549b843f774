"""`segmint segments ...` against a real database, on both backends."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from segmint import auth
from segmint.campaigns.definitions import create_campaign, get_campaign
from segmint.cli import app
from segmint.clock import SYSTEM_CLOCK
from segmint.engine import lists as lists_engine
from segmint.engine import segments
from segmint.ingest import upsert_leads
from segmint.model import Role
from segmint.projects import Project
from segmint.store.tables import leads, users
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


def test_list_by_creator_and_tag_then_versions_and_restore(
    db: Engine, db_url: str, project: Project
) -> None:
    _seed(db, project)
    create = ("segments", "create")
    code, out, err = _run(db_url, *create, "New", "--where", 'status = "new"', "--tag", "Q4")
    assert code == 0, err
    segment_id = out.splitlines()[-1]
    code, _, err = _run(db_url, *create, "Other", "--where", 'status = "contacted"')
    assert code == 0, err

    code, out, _ = _run(db_url, "segments", "list", "--tag", "q4", "--created-by", "me")
    assert code == 0 and "New" in out and "Q4" in out and "Other" not in out
    code, out, _ = _run(db_url, "segments", "list", "--created-by", "owner@acme.test")
    assert code == 0 and "New" in out and "Other" in out
    code, _, err = _run(db_url, "segments", "list", "--created-by", "nobody@acme.test")
    assert code == 1 and "created_by" in err

    with db.begin() as conn:
        owner = auth.Principal(
            int(conn.execute(sa.select(users.c.id)).scalar_one()),
            project.organization_id,
            "owner@acme.test",
            Role.OWNER,
            None,
        )
        contacted = {"field": "status", "op": "eq", "value": "contacted"}
        changes = {"name": "Contacted", "filter": contacted}
        segments.update_segment(conn, project, owner, int(segment_id), changes)

    code, out, _ = _run(db_url, "segments", "versions", segment_id)
    assert code == 0
    lines = [line.split("\t") for line in out.splitlines()]
    assert lines[0] == ["version", "saved at", "saved by", "name", "where", "restores"]
    assert [(n, by, name, where) for n, _, by, name, where, _ in lines[1:]] == [
        ("2", "owner@acme.test", "Contacted", 'status = "contacted"'),
        ("1", "owner@acme.test", "New", 'status = "new"'),
    ]
    code, out, err = _run(db_url, "segments", "restore", segment_id, "1")
    assert code == 0, err
    assert out.strip() == f"Restored version 1 of segment {segment_id} as version 3 (2 members)"
    code, out, _ = _run(db_url, "segments", "versions", segment_id, "--limit", "1")
    assert out.splitlines()[1].split("\t")[::5] == ["3", "1"]  # restores version 1
    code, out, _ = _run(db_url, "segments", "show", segment_id)
    assert out.startswith("New (") and 'status = "new"' in out
    code, out, _ = _run(db_url, "segments", "restore", segment_id, "3")
    assert out.strip() == f"Segment {segment_id} already matches version 3: nothing saved"
    code, _, err = _run(db_url, "segments", "restore", segment_id, "9")
    assert code == 1 and "no version 9" in err


def test_refresh_an_inactive_segment(db: Engine, db_url: str, project: Project) -> None:
    _seed(db, project)
    create = ("segments", "create", "Frozen", "--where", 'status = "new"', "--no-active")
    code, out, err = _run(db_url, *create)
    assert code == 0, err
    segment_id = out.splitlines()[-1]
    assert _run(db_url, "segments", "count", segment_id)[1].strip() == "0"  # frozen empty

    code, out, err = _run(db_url, "segments", "refresh", segment_id)
    assert (code, out.strip()) == (0, "Segment refreshed: 2 entered, 0 left, 2 members"), err
    assert _run(db_url, "segments", "count", segment_id)[1].strip() == "2"
    assert "inactive" in _run(db_url, "segments", "show", segment_id)[1]

    code, out, _ = _run(db_url, "segments", "create", "Live", "--where", 'status = "new"')
    code, _, err = _run(db_url, "segments", "refresh", out.splitlines()[-1])
    assert code == 1 and "always current" in err


def test_delete_with_a_choice_for_its_campaigns(db: Engine, db_url: str, project: Project) -> None:
    _seed(db, project)
    code, out, _ = _run(db_url, "segments", "create", "New", "--where", 'status = "new"')
    segment_id = int(out.splitlines()[-1])
    with db.begin() as conn:
        body = {"name": "Hello", "targeting": {"include_segments": [segment_id]}}
        campaign_id = create_campaign(conn, project, body, None, SYSTEM_CLOCK.now())

    code, _, err = _run(db_url, "segments", "delete", str(segment_id))
    assert code == 1 and "campaign 'Hello'" in err and "?campaigns=detach" in err
    code, _, err = _run(db_url, "segments", "delete", str(segment_id), "--campaigns", "drop")
    assert code == 1 and "must be 'detach' or 'keep'" in err

    code, out, err = _run(db_url, "segments", "delete", str(segment_id), "--campaigns", "detach")
    assert code == 0, err
    assert out.splitlines() == [
        f"Segment {segment_id} deleted.",
        f"Removed from campaign 'Hello' (#{campaign_id}).",
    ]
    with db.connect() as conn:
        assert get_campaign(conn, project, campaign_id).include_segments == []
    code, _, err = _run(db_url, "segments", "count", str(segment_id))
    assert code == 1 and "no segment" in err


def test_include_and_exclude_leads_by_email(db: Engine, db_url: str, project: Project) -> None:
    _seed(db, project)
    code, out, err = _run(db_url, "segments", "create", "New", "--where", 'status = "new"')
    assert code == 0, err
    segment_id = out.splitlines()[-1]

    code, out, err = _run(db_url, "segments", "include", segment_id, "BOB@x.test")
    assert code == 0, err
    assert out.strip() == "1 included; the segment includes 1 and excludes 0 leads by hand"
    code, out, err = _run(db_url, "segments", "exclude", segment_id, "ada@x.test")
    assert code == 0, err
    code, out, _ = _run(db_url, "segments", "members", segment_id)
    assert "bob@x.test" in out and "cy@x.test" in out and "ada@x.test" not in out
    assert _run(db_url, "segments", "count", segment_id)[1].strip() == "2"

    code, out, _ = _run(db_url, "segments", "exclude", segment_id, "ada@x.test", "--remove")
    assert out.strip() == "1 exclude removed; the segment includes 1 and excludes 0 leads by hand"
    assert _run(db_url, "segments", "count", segment_id)[1].strip() == "3"

    code, _, err = _run(db_url, "segments", "include", segment_id, "nobody@x.test")
    assert code == 1 and "no lead with email nobody@x.test" in err


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


def test_scores_prints_the_trend_and_a_before_after_comparison(
    db: Engine, db_url: str, project: Project
) -> None:
    import json

    from segmint.worker.loop import Worker

    _seed(db, project)
    code, out, err = _run(db_url, "segments", "create", "New", "--where", 'status = "new"')
    assert code == 0, err
    segment_id = out.splitlines()[-1]
    Worker(db).drain()
    code, out, err = _run(db_url, "segments", "scores", segment_id, "--days", "2")
    assert code == 0, err
    trend = json.loads(out)
    assert len(trend) == 2 and trend[-1]["member_count"] == 2
    code, out, err = _run(
        db_url, "segments", "scores", segment_id, "--at", "2020-01-01", "--after-days", "7"
    )
    assert code == 0, err
    assert json.loads(out)["members"] == 2
    code, out, err = _run(db_url, "segments", "scores", segment_id, "--at", "soon")
    assert code != 0 and "--at" in err
