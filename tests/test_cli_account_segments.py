"""`segmint segments create|count|members|export|show` for account segments, on both backends."""

from __future__ import annotations

import csv
import io
import json

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.projects import Project
from segmint.store.tables import accounts, leads, segments
from tests.filters.harness import T0, lead_row
from tests.test_cli_segments import _run

HOT = {"field": "engagement_level", "op": "eq", "value": "Hot"}


def _seed(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        for name, hot in (("Acme", 3), ("Globex", 1), ("Initech", 0)):
            account_id = conn.execute(
                accounts.insert()
                .values(project_id=project.id, name=name, metadata={}, created_at=T0, updated_at=T0)
                .returning(accounts.c.id)
            ).scalar_one()
            for n in range(hot):
                values = {"email": f"{n}@{name}.test", "engagement_level": "Hot"}
                conn.execute(
                    leads.insert().values(
                        lead_row(project.id, {**values, "account_id": account_id})
                    )
                )


def test_account_segment_from_the_cli(db: Engine, db_url: str, project: Project) -> None:
    _seed(db, project)
    tree = json.dumps({"leads": HOT, "min_count": 1})
    code, out, err = _run(
        db_url, "segments", "create", "Hot accounts", "--audience", "accounts", "--filter", tree
    )
    assert code == 0, err
    assert "with 2 members" in out
    segment_id = out.strip().splitlines()[-1]
    code, out, err = _run(db_url, "segments", "count", segment_id)
    assert (code, out.strip()) == (0, "2")
    code, out, err = _run(db_url, "segments", "members", segment_id, "--per-page", "1")
    assert code == 0, err
    assert "Acme" in out and "Globex" not in out and "next: --after" in out
    code, out, err = _run(db_url, "segments", "export", segment_id)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["name"], r["lead_count"]) for r in rows] == [("Acme", "3"), ("Globex", "1")]
    code, out, err = _run(db_url, "segments", "show", segment_id)
    assert code == 0, err
    assert "accounts, live" in out and "leads (" in out


def test_a_lead_field_is_refused_with_its_path(db: Engine, db_url: str, project: Project) -> None:
    tree = json.dumps({"and": [{"field": "job_title", "op": "is_null"}]})
    code, _out, err = _run(
        db_url, "segments", "create", "Bad", "--audience", "accounts", "--filter", tree
    )
    assert code != 0
    assert "filter.and[0].field" in err
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(segments)).scalar() == 0


def test_an_account_segment_from_the_text_syntax(db: Engine, db_url: str, project: Project) -> None:
    _seed(db, project)
    where = 'leads (engagement_level = "Hot") at least 2 or name = "Initech"'
    code, out, err = _run(
        db_url, "segments", "create", "Hot accounts", "--audience", "accounts", "--where", where
    )
    assert code == 0, err
    assert "with 2 members" in out  # Acme (3 Hot) and Initech (by name); Globex has 1
    segment_id = out.strip().splitlines()[-1]
    code, out, err = _run(db_url, "segments", "show", segment_id)
    assert code == 0, err
    assert where in out  # printed back as written
    code, _out, err = _run(
        db_url, "segments", "create", "Bad", "--audience", "accounts", "--where", "job_title = 1"
    )
    assert code != 0 and "filter.field" in err  # a lead field outside `leads`, by its path
