"""export-project / import-project round-trip a project exactly, on both databases: every row
of every table comes back, with new ids and every reference (columns, filters, targeting)
pointing at the imported rows."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from segmint.campaigns.sender import Sender
from segmint.cli import app
from segmint.errors import InvalidInput
from segmint.ingest import upsert_leads
from segmint.portability import PARTS, _Ids, _rewrite, export_project, import_project
from segmint.projects import Project
from segmint.worker.loop import Worker
from tests.api.conftest import Api
from tests.smtp import SmtpServer


@pytest.fixture
def full(api: Api, db: Engine) -> Project:
    """A project with a row in every exported table."""
    server = SmtpServer().start()
    try:
        api.put(
            "settings/mail",
            json={"host": "127.0.0.1", "port": server.port, "security": "none",
                  "from_email": "n@acme.test", "public_url": "http://testserver"},
        )  # fmt: skip
        api.post("custom-fields", json={"key": "plan", "label": "Plan", "type": "text"})
        account = api.post("accounts", json={"name": "Acme", "domain": "acme.test"}).json()
        leads = [
            {"email": f"l{i}@x.test", "status": "new", "account_id": account["id"],
             "custom": {"plan": "pro"}, "enrichment": {"company": {"size": 10 * i}}}
            for i in range(6)
        ]  # fmt: skip
        api.post("leads/bulk", json={"leads": leads})
        events = [{"email": f"l{i}@x.test", "type": "page_view"} for i in range(4)]
        api.post("events", json={"events": events})
        api.post("scoring/rules", json={"event_type": "page_view", "points": 10})
        big = {"field": "enrichment.company.size", "op": "gte", "value": 20}
        base = api.post("segments", json={"name": "Big", "filter": big, "tags": ["q4"]}).json()
        nested = {"and": [{"in_segment": base["id"]}, {"event": "page_view"}]}
        active = api.post("segments", json={"name": "Big and active", "filter": nested}).json()
        viewed = {"leads": {"event": "page_view"}, "min_count": 2}
        accounts = {"name": "Viewing accounts", "audience": "accounts", "filter": viewed}
        company = api.post("segments", json=accounts).json()
        through = {"in_account_segment": company["id"]}
        api.post("segments", json={"name": "Their leads", "filter": through})
        api.post(f"segments/{base['id']}/includes", json={"lead_ids": [1]})
        api.post(f"segments/{active['id']}/excludes", json={"lead_ids": [2]})
        listed = api.post("lists", json={"name": "VIP"}).json()
        api.post(f"lists/{listed['id']}/members", json={"lead_ids": [1, 2]})
        api.post(
            "scoring/fit-rules",
            json={"name": "In VIP", "filter": {"in_list": listed["id"]}, "points": 30},
        )
        api.post("webhooks", json={"url": "https://hooks.test/x", "segment_id": active["id"]})
        campaign = api.post(
            "campaigns",
            json={"name": "Hello", "subject": "Hi", "targeting": {
                "include_segments": [base["id"]], "exclude_lists": [listed["id"]]}},
        ).json()  # fmt: skip
        Worker(db).drain()
        api.post(f"campaigns/{campaign['id']}/runs")
        Sender(db).drain()
        Worker(db).drain()
    finally:
        server.stop()
    return api.project


def _export(db: Engine, project: Project) -> list[dict[str, Any]]:
    buffer = io.StringIO()
    export_project(db, project, buffer)
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_project_round_trips_exactly(db: Engine, full: Project) -> None:
    original = _export(db, full)
    tables = {line["table"] for line in original[1:]}
    assert tables == {part.table.name for part in PARTS}  # every table has rows
    text = "\n".join(json.dumps(line) for line in original)
    copy, counts = import_project(db, full.organization_id, text.splitlines(), "copy")
    assert sum(counts.values()) == len(original) - 1
    again = _export(db, copy)
    assert again[0]["project"] == {**original[0]["project"], "slug": "copy"}
    assert _by_position(again[1:]) == _by_position(original[1:])


def _by_position(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An export with every id (and every reference to one) replaced by the row's position in
    its table: two exports of the same project compare equal whatever ids they were given."""
    positions = _Ids()
    for line in lines:
        if "id" in line["row"]:
            table = positions.of(line["table"])
            table[line["row"]["id"]] = len(table)
    parts = {part.table.name: part for part in PARTS}
    normalised = []
    for line in lines:
        part, row = parts[line["table"]], dict(line["row"])
        if "id" in row:
            row["id"] = positions.of(line["table"])[row["id"]]
        for column, target in part.refs.items():
            if row.get(column) is not None:
                row[column] = positions.of(target)[row[column]]
        for column in part.filters:
            row[column] = _rewrite(row[column], positions)
        for column in ("include_segments", "exclude_segments", "include_lists", "exclude_lists"):
            if column in row:
                target = "segments" if "segments" in column else "lists"
                row[column] = [positions.of(target)[i] for i in row[column]]
        normalised.append({"table": line["table"], "row": row})
    return normalised


def test_a_broken_file_imports_nothing(db: Engine, full: Project) -> None:
    lines = [json.dumps(line) for line in _export(db, full)]
    lines.insert(5, "{not json")
    with pytest.raises(InvalidInput, match="line 6: not JSON"):
        import_project(db, full.organization_id, lines, "broken")
    with pytest.raises(InvalidInput, match="line 1: not a Segmint project export"):
        import_project(db, full.organization_id, ["{}"], "broken")


def test_the_cli_exports_and_imports(
    db: Engine, db_url: str, project: Project, tmp_path: Path
) -> None:
    upsert_leads(db, project, enumerate([{"email": "a@x.test"}, {"email": "b@x.test"}]))
    runner = CliRunner()
    path = tmp_path / "project.ndjson"
    result = runner.invoke(app, ["export-project", "-o", str(path), "--database-url", db_url])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["import-project", str(path), "--project", "restored", "--database-url", db_url]
    )
    assert result.exit_code == 0, result.output
    assert "imported project 'restored': 2 rows" in result.stdout


def _analyzed(db: Engine, table: str) -> bool:
    """Whether the table has planner statistics from an ANALYZE (not autovacuum's)."""
    with db.connect() as conn:
        if db.dialect.name == "sqlite":
            has_stats = conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).first()
            return bool(
                has_stats
                and conn.exec_driver_sql(
                    "SELECT 1 FROM sqlite_stat1 WHERE tbl = ?", (table,)
                ).first()
            )
        conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        row = conn.exec_driver_sql(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s", (table,)
        ).one()
        return row.last_analyze is not None


def test_an_imported_project_is_analyzed(db: Engine, full: Project) -> None:
    """Without statistics the background work that follows an import planned as if the tables
    were empty (and autovacuum may be off, or late)."""
    text = [json.dumps(line) for line in _export(db, full)]
    assert not _analyzed(db, "leads")
    import_project(db, full.organization_id, text, "copy")
    assert _analyzed(db, "leads") and _analyzed(db, "events")


def _edited(lines: list[dict[str, Any]], table: str, **changes: Any) -> list[str]:
    """The export as text with `changes` made to the last row of `table` (None removes a key)."""
    at = max(i for i, line in enumerate(lines) if line.get("table") == table)
    row = {k: v for k, v in {**lines[at]["row"], **changes}.items() if v is not None}
    edited = [*lines[:at], {"table": table, "row": row}, *lines[at + 1 :]]
    return [json.dumps(line) for line in edited]


def _line_of_last(lines: list[dict[str, Any]], table: str) -> int:
    return 1 + max(i for i, line in enumerate(lines) if line.get("table") == table)


@pytest.mark.parametrize(
    ("table", "changes", "message"),
    [
        ("leads", {"tags": None}, '"tags" is missing'),
        ("leads", {"engagement_score": "high"}, '"engagement_score" must be a number'),
        ("leads", {"account_id": 1.5}, '"account_id" must be an integer of at most 64 bits'),
        ("leads", {"email": "x" * 400}, '"email" is longer than 320 characters'),
        (
            "leads",
            {"first_name": "a\x00b"},
            '"first_name" contains a NUL character (\\u0000), which cannot be stored',
        ),
        (
            "leads",
            {"enrichment": {"company": {"name": "\ud800"}}},
            '"enrichment" at company.name contains a lone UTF-16 surrogate (like \\ud800),'
            " which is not valid Unicode text",
        ),
        ("events", {"occurred_at": "yesterday"}, '"occurred_at" must be an ISO 8601 instant'),
        ("events", {"type": None}, '"type" is missing'),
        ("segments", {"created_by": 7}, '"created_by" must be an email'),
        ("campaigns", {"include_segments": "all"}, '"include_segments" must be a list of ids'),
    ],
)
def test_a_bad_row_is_named_by_line_and_column(
    db: Engine, full: Project, table: str, changes: dict[str, Any], message: str
) -> None:
    """A hand-edited file fails on the line at fault, on both databases alike (SQLite would
    have kept a word in an integer column), and leaves no project behind."""
    lines = _export(db, full)
    number = _line_of_last(lines, table)
    with pytest.raises(InvalidInput) as failed:
        import_project(db, full.organization_id, _edited(lines, table, **changes), "edited")
    assert str(failed.value) == f"line {number}: {table} {message}"
    with db.connect() as conn:
        assert not conn.exec_driver_sql("SELECT 1 FROM projects WHERE slug = 'edited'").first()


def test_a_row_the_database_refuses_is_named_by_line(db: Engine, full: Project) -> None:
    """A duplicate email passes every column's check; the database refuses its batch, and the
    import finds the line by retrying the batch's rows one at a time."""
    lines = _export(db, full)
    first = next(line for line in lines if line.get("table") == "leads")
    number = _line_of_last(lines, "leads")
    text = _edited(lines, "leads", email=first["row"]["email"])
    with pytest.raises(
        InvalidInput, match=rf"^line {number}: leads row refused: .*(unique|UNIQUE)"
    ):
        import_project(db, full.organization_id, text, "edited")
    # An event of a lead not in the file: its foreign key refuses it rather than the event
    # attaching to whichever lead has that id.
    number = _line_of_last(lines, "events")
    text = _edited(lines, "events", lead_id=10**9)
    with pytest.raises(
        InvalidInput, match=rf"^line {number}: events row refused: .*(foreign|FOREIGN)"
    ):
        import_project(db, full.organization_id, text, "edited")


def test_rows_may_leave_out_columns_that_have_defaults(db: Engine, full: Project) -> None:
    """A file from before a column existed: a row without it takes the column's default, even
    when the rows before it in the same batch have it."""
    lines = _export(db, full)
    text = _edited(lines, "leads", last_contacted_at=None)
    text = _edited([json.loads(line) for line in text], "mail_settings", from_name=None)
    copy, _ = import_project(db, full.organization_id, text, "older")
    assert len([line for line in _export(db, copy) if line.get("table") == "leads"]) == 6


def test_a_reference_to_a_row_not_in_the_file_never_takes_another_rows_id(
    db: Engine, full: Project
) -> None:
    """A recipient whose lead was deleted keeps no lead id the target may have given to
    another lead (it would never be sent that campaign): its id is made negative."""
    text = _edited(_export(db, full), "campaign_recipients", lead_id=10**9)
    copy, _ = import_project(db, full.organization_id, text, "copy")
    recipients = [
        line["row"] for line in _export(db, copy) if line.get("table") == "campaign_recipients"
    ]
    assert [r["lead_id"] for r in recipients if r["lead_id"] < 0] == [-(10**9)]


def _segment_lines(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["row"]["name"]: line for line in lines if line.get("table") == "segments"}


@pytest.mark.parametrize(
    ("table", "changes", "message"),
    [
        (
            "segments",
            {"filter": {"field": "shoe_size", "op": "gt", "value": 40}},
            r"segments filter\.field: unknown field 'shoe_size'",
        ),
        (
            "segments",
            {"filter": {"in_segment": 10**6}},
            r'segments "filter" refers to segment 1000000, which is not in the file',
        ),
        (
            "fit_rules",
            {"filter": {"in_list": 10**6}},
            r'fit_rules "filter" refers to list 1000000, which is not in the file',
        ),
        (
            "fit_rules",
            {"filter": {"field": "status", "op": "between", "value": "new"}},
            r"fit_rules filter\.op: ",
        ),
        ("scoring_rules", {"points": 1e12}, r"scoring_rules points: at most "),
        (
            "scoring_rules",
            {"where": {"field": "metadata.x", "op": "nope", "value": 1}},
            r"scoring_rules rule\.where\.op: ",
        ),
        (
            "campaigns",
            {"include_segments": [10**6]},
            r'campaigns "include_segments" refers to segment 1000000, which is not in the file',
        ),
        ("campaigns", {"schedule": "cron", "cron": "every day"}, r"campaigns schedule\.cron: "),
        ("campaigns", {"body": "{% for %}"}, r"campaigns body: "),
    ],
)
def test_a_definition_is_checked_as_when_saved(
    db: Engine, full: Project, table: str, changes: dict[str, Any], message: str
) -> None:
    """A hand-edited segment, rule or campaign passes the checks it would pass when saved
    through the API, or the import names its line and nothing is imported: a stored filter
    that fails each time it is counted, or a reference to another project's segment by an id
    not in the file, is refused up front."""
    lines = _export(db, full)
    number = _line_of_last(lines, table)
    with pytest.raises(InvalidInput, match=rf"^line {number}: {message}"):
        import_project(db, full.organization_id, _edited(lines, table, **changes), "edited")
    with db.connect() as conn:
        assert not conn.exec_driver_sql("SELECT 1 FROM projects WHERE slug = 'edited'").first()


def test_segments_that_refer_to_each_other_in_a_cycle_are_refused(
    db: Engine, full: Project
) -> None:
    lines = _export(db, full)
    segments = _segment_lines(lines)
    base, nested = segments["Big"], segments["Big and active"]
    base["row"]["filter"] = {"in_segment": nested["row"]["id"]}  # Big -> Big and active -> Big
    number = 1 + lines.index(base)
    text = [json.dumps(line) for line in lines]
    with pytest.raises(InvalidInput, match=rf"^line {number}: segments .*form a cycle"):
        import_project(db, full.organization_id, text, "cyclic")


def test_history_keeps_a_reference_to_a_row_not_in_the_file_as_no_row(
    db: Engine, full: Project
) -> None:
    """A past version may name a segment deleted since: it is imported, pointing at no row."""
    lines = _export(db, full)
    text = _edited(lines, "segment_versions", filter={"or": [{"in_segment": 10**6}]})
    copy, _ = import_project(db, full.organization_id, text, "copy")
    exported = _export(db, copy)
    versions = [line["row"] for line in exported if line.get("table") == "segment_versions"]
    assert versions[-1]["filter"] == {"or": [{"in_segment": -(10**6)}]}


def test_what_the_product_lets_drift_still_imports(api: Api, db: Engine) -> None:
    """A segment deactivated after a filter came to read its time in segment, and after a
    campaign came to trigger on it: the product allows both, so its export imports."""
    new = {"field": "status", "op": "eq", "value": "new"}
    watched = api.post("segments", json={"name": "Watched", "filter": new}).json()
    tenure = {"in_segment": watched["id"], "for_at_least_days": 3}
    api.post("segments", json={"name": "Settled", "filter": tenure})
    api.post("scoring/fit-rules", json={"name": "Settled", "filter": tenure, "points": 5})
    trigger = {"on": "enter", "segment_id": watched["id"]}
    api.post("campaigns", json={"name": "On entry", "subject": "Hi", "trigger": trigger})
    assert api.patch(f"segments/{watched['id']}", json={"active": False}).status_code == 200
    lines = [json.dumps(line) for line in _export(db, api.project)]
    _, counts = import_project(db, api.project.organization_id, lines, "copy")
    assert counts["segments"] == 2 and counts["campaigns"] == 1 and counts["fit_rules"] == 1
