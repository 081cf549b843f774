"""Event ingestion (`import_events_jsonl`, `ingest_events`) against real databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint import auth
from segmint.clock import FrozenClock, as_utc
from segmint.ingest import ImportReport, import_events_jsonl, ingest_events, upsert_leads
from segmint.projects import Project, create_project
from segmint.store.tables import events, leads


def seed_leads(db: Engine, project: Project, *emails: str) -> dict[str, int]:
    report = upsert_leads(db, project, [(i, {"email": e}) for i, e in enumerate(emails)])
    assert report.failed == 0
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(leads.c.id, leads.c.email).where(leads.c.project_id == project.id)
        )
        return {row.email: int(row.id) for row in rows}


def write_jsonl(tmp_path: Path, lines: list[Any]) -> Path:
    """Dicts become JSON lines; strings are written as they are (bad lines)."""
    path = tmp_path / "events.jsonl"
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


def stored_events(db: Engine, project: Project) -> list[Any]:
    with db.connect() as conn:
        return conn.execute(
            sa.select(events).where(events.c.project_id == project.id).order_by(events.c.id)
        ).all()


def last_activity(db: Engine, lead_id: int) -> datetime | None:
    with db.connect() as conn:
        value = conn.execute(
            sa.select(leads.c.last_activity_at).where(leads.c.id == lead_id)
        ).scalar_one()
    return as_utc(value) if value is not None else None


def errors_by_line(report: ImportReport) -> dict[int, str]:
    result = {error.location: error.message for error in report.errors}
    assert len(result) == len(report.errors) == report.failed
    return result


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=UTC)


def test_events_by_email_and_by_id(
    db: Engine, project: Project, tmp_path: Path, clock: FrozenClock
) -> None:
    ids = seed_leads(db, project, "ada@example.com", "bob@example.com")
    path = write_jsonl(
        tmp_path,
        [
            {
                "email": "ADA@example.com ",
                "type": "page_view",
                "occurred_at": "2026-10-01T10:00:00Z",
                "metadata": {"path": "/pricing", "duration_s": 12},
            },
            {"lead_id": ids["bob@example.com"], "type": "email_open"},
            {
                "lead_id": str(ids["ada@example.com"]),
                "type": "form_submit",
                "occurred_at": "2026-10-02T12:00:00+02:00",
            },
        ],
    )
    report = import_events_jsonl(db, project, path, clock=clock)

    assert (report.counts.accepted, report.failed) == (3, 0)
    rows = stored_events(db, project)
    assert [(r.lead_id, r.type) for r in rows] == [
        (ids["ada@example.com"], "page_view"),
        (ids["bob@example.com"], "email_open"),
        (ids["ada@example.com"], "form_submit"),
    ]
    assert rows[0].metadata == {"path": "/pricing", "duration_s": 12}
    assert rows[1].metadata == {}
    assert as_utc(rows[0].occurred_at) == at(1, 10)
    assert as_utc(rows[1].occurred_at) == clock.now()  # no occurred_at: now
    assert as_utc(rows[2].occurred_at) == at(2, 10)
    assert all(as_utc(r.created_at) == clock.now() for r in rows)


def test_bad_lines_are_reported_by_line_and_good_ones_kept(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    ids = seed_leads(db, project, "ada@example.com")
    ada = ids["ada@example.com"]
    path = write_jsonl(
        tmp_path,
        [
            {"email": "ada@example.com", "type": "page_view"},  # 1
            '{"email": "ada@example.com", "type": ',  # 2: not JSON
            {"email": "ada@example.com"},  # 3: no type
            {"email": "ada@example.com", "type": "  "},  # 4: blank type
            {"email": "ada@example.com", "type": "x", "occurred_at": "last tuesday"},  # 5
            {"email": "ada@example.com", "type": "x", "metadata": [1, 2]},  # 6
            {"email": "ada@example.com", "type": "x", "metadata": "plain text"},  # 7
            {"email": "nobody@example.com", "type": "x"},  # 8: unknown lead
            {"lead_id": ada + 1000, "type": "x"},  # 9: unknown lead
            {"type": "x"},  # 10: no lead reference
            {"lead_id": "abc", "type": "x"},  # 11
            {"email": "not an email", "type": "x"},  # 12
            [1, 2, 3],  # 13: not an object
            {"email": "ada@example.com", "type": "x", "colour": "red"},  # 14: unknown field
            "",  # 15: blank lines are skipped
            {"lead_id": ada, "type": "email_open"},  # 16
        ],
    )
    report = import_events_jsonl(db, project, path)

    assert report.counts.accepted == 2
    errors = errors_by_line(report)
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert errors[2].startswith("not valid JSON (")
    assert errors[3] == "type: required"
    assert errors[4] == "type: required"
    assert errors[5].startswith("occurred_at: expected an ISO date or datetime")
    assert errors[6] == "metadata: expected a JSON object"
    assert errors[7].startswith("metadata: not valid JSON")
    assert errors[8] == "email: no lead with email 'nobody@example.com' in this project"
    assert errors[9] == f"lead_id: no lead {ada + 1000} in this project"
    assert errors[10] == "lead_id: give the lead as lead_id or email"
    assert errors[11] == "lead_id: expected a lead id"
    assert errors[12].startswith("email:")
    assert errors[13] == "expected a JSON object"
    assert errors[14] == "colour: unknown field"
    assert [r.type for r in stored_events(db, project)] == ["page_view", "email_open"]


def test_invalid_utf8_and_a_bom(db: Engine, project: Project, tmp_path: Path) -> None:
    seed_leads(db, project, "ada@example.com")
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"email": "ada@example.com", "type": "a"}\n'
        b'{"email": "ada@example.com", "type": "b\xff"}\n'
        b'{"email": "ada@example.com", "type": "c", "metadata": {"city": "Z\xc3\xbcrich"}}\n'
    )
    report = import_events_jsonl(db, project, path)

    assert report.counts.accepted == 2
    assert errors_by_line(report) == {2: "not valid UTF-8; save the file as UTF-8"}
    rows = stored_events(db, project)
    assert [r.type for r in rows] == ["a", "c"]
    assert rows[1].metadata == {"city": "Zürich"}


def test_non_finite_numbers_in_metadata_are_refused(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    seed_leads(db, project, "ada@example.com")
    path = write_jsonl(
        tmp_path,
        [
            '{"email": "ada@example.com", "type": "a", "metadata": {"v": NaN}}',
            '{"email": "ada@example.com", "type": "b", "metadata": {"v": [1, Infinity]}}',
            {"email": "ada@example.com", "type": "c", "metadata": {"v": 1.5}},
        ],
    )
    report = import_events_jsonl(db, project, path)

    assert report.counts.accepted == 1
    assert errors_by_line(report) == {
        1: "metadata.v: expected a finite number",
        2: "metadata.v[1]: expected a finite number",
    }
    assert [r.metadata for r in stored_events(db, project)] == [{"v": 1.5}]


def test_an_out_of_range_lead_id_is_a_row_error(db: Engine, project: Project) -> None:
    ids = seed_leads(db, project, "ada@example.com")
    records = [
        (0, {"lead_id": 10**30, "type": "x"}),
        (1, {"lead_id": ids["ada@example.com"], "type": "y"}),
    ]
    report = ingest_events(db, project, records)

    assert report.counts.accepted == 1
    assert errors_by_line(report) == {0: "lead_id: expected a lead id"}


def test_last_activity_follows_the_latest_event_and_never_moves_back(
    db: Engine, project: Project
) -> None:
    ids = seed_leads(db, project, "ada@example.com", "bob@example.com")
    ada, bob = ids["ada@example.com"], ids["bob@example.com"]
    assert last_activity(db, ada) is None

    report = ingest_events(
        db,
        project,
        [
            (0, {"lead_id": ada, "type": "a", "occurred_at": at(5)}),
            (1, {"lead_id": ada, "type": "b", "occurred_at": at(9)}),
            (2, {"lead_id": ada, "type": "c", "occurred_at": at(7)}),
        ],
    )
    assert report.counts.accepted == 3
    assert last_activity(db, ada) == at(9)
    assert last_activity(db, bob) is None

    # An older event later on does not move it back; a newer one moves it forward.
    ingest_events(
        db, project, [(0, {"email": "ada@example.com", "type": "d", "occurred_at": at(1)})]
    )
    assert last_activity(db, ada) == at(9)
    ingest_events(
        db, project, [(0, {"email": "ada@example.com", "type": "e", "occurred_at": at(20)})]
    )
    assert last_activity(db, ada) == at(20)


def test_last_activity_across_batches(db: Engine, project: Project) -> None:
    ids = seed_leads(db, project, "ada@example.com")
    ada = ids["ada@example.com"]
    records = [
        (day, {"lead_id": ada, "type": "page_view", "occurred_at": at(day)})
        for day in (3, 30, 12, 1, 29, 2)
    ]
    report = ingest_events(db, project, records, batch_size=2)

    assert report.counts.accepted == 6
    assert last_activity(db, ada) == at(30)


def test_an_imported_later_last_activity_is_kept(db: Engine, project: Project) -> None:
    upsert_leads(db, project, [(0, {"email": "ada@example.com", "last_activity_at": at(25)})])
    ingest_events(
        db, project, [(0, {"email": "ada@example.com", "type": "x", "occurred_at": at(3)})]
    )
    with db.connect() as conn:
        lead_id = conn.execute(sa.select(leads.c.id)).scalar_one()
    assert last_activity(db, lead_id) == at(25)


def test_another_projects_leads_are_not_accepted(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    with db.begin() as conn:
        other_org = auth.create_organization(conn, "Globex")
        other = create_project(conn, other_org, "default")
    mine = seed_leads(db, project, "ada@example.com")
    theirs = seed_leads(db, other, "ada@example.com", "eve@globex.test")
    path = write_jsonl(
        tmp_path,
        [
            {"lead_id": theirs["eve@globex.test"], "type": "page_view"},  # 1: their lead id
            {"email": "eve@globex.test", "type": "page_view"},  # 2: their lead's email
            {"email": "ada@example.com", "type": "page_view"},  # 3: mine (same email as theirs)
        ],
    )
    report = import_events_jsonl(db, project, path)

    assert report.counts.accepted == 1
    assert sorted(errors_by_line(report)) == [1, 2]
    rows = stored_events(db, project)
    assert [(r.lead_id, r.project_id) for r in rows] == [(mine["ada@example.com"], project.id)]
    assert stored_events(db, other) == []
    assert last_activity(db, theirs["ada@example.com"]) is None
    assert last_activity(db, theirs["eve@globex.test"]) is None


def test_the_same_lead_in_two_projects_by_id(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        other = create_project(conn, project.organization_id, "other")
    theirs = seed_leads(db, other, "zed@example.com")
    report = ingest_events(
        db, project, [(7, {"lead_id": theirs["zed@example.com"], "type": "page_view"})]
    )
    assert report.counts.accepted == 0
    assert list(errors_by_line(report)) == [7]
    assert stored_events(db, other) == []


def test_progress_and_error_callbacks(db: Engine, project: Project, tmp_path: Path) -> None:
    seed_leads(db, project, "ada@example.com")
    path = write_jsonl(
        tmp_path,
        [
            {"email": "ada@example.com", "type": "a"},
            "nope",
            {"email": "x@example.com", "type": "b"},
        ],
    )
    progress: list[int] = []
    seen: list[int] = []
    report = import_events_jsonl(
        db, project, path, on_progress=progress.append, on_error=lambda e: seen.append(e.location)
    )
    assert report.counts.accepted == 1
    assert sorted(seen) == [2, 3]
    assert sum(progress) == path.stat().st_size
