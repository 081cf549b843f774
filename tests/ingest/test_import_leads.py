"""CSV lead import (`import_leads_csv`) against real databases, on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.clock import FrozenClock, as_utc
from segmint.engine.accounts import create_account
from segmint.errors import InvalidInput
from segmint.ingest import NO_EMAIL_WARNING, ImportReport, import_leads_csv, upsert_leads
from segmint.projects import Project, add_custom_field, get_project_by_id
from segmint.store.tables import leads


def write_csv(tmp_path: Path, text: str | bytes, name: str = "leads.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def stored(db: Engine, project: Project) -> dict[str | None, Any]:
    """The project's leads keyed by email (in insertion order)."""
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(leads).where(leads.c.project_id == project.id).order_by(leads.c.id)
        ).all()
    return {row.email: row for row in rows}


def count_leads(db: Engine, project: Project) -> int:
    with db.connect() as conn:
        query = sa.select(sa.func.count()).select_from(leads)
        return int(conn.execute(query.where(leads.c.project_id == project.id)).scalar_one())


def errors_by_line(report: ImportReport) -> dict[int, str]:
    result = {error.location: error.message for error in report.errors}
    assert len(result) == len(report.errors), "one error per line"
    assert report.failed == len(report.errors)
    return result


def with_custom_fields(db: Engine, project: Project) -> Project:
    with db.begin() as conn:
        add_custom_field(conn, project.id, "plan", type="select", options=["free", "pro", "ent"])
        add_custom_field(conn, project.id, "budget", type="number")
        add_custom_field(conn, project.id, "newsletter", type="boolean")
        add_custom_field(conn, project.id, "renewal", type="date")
        return get_project_by_id(conn, project.id)


def counts(report: ImportReport) -> tuple[int, int, int, int]:
    c = report.counts
    return c.created, c.updated, c.skipped, report.failed


# --- good rows, headers and --map ------------------------------------------------------------


def test_good_rows_are_stored_with_every_column(
    db: Engine, project: Project, tmp_path: Path, clock: FrozenClock
) -> None:
    path = write_csv(
        tmp_path,
        "email,first_name,last_name,phone,phone_type,company,job_title,status,source,owner,"
        "tags,country,language,priority,group_name,engagement_score\n"
        "ada@example.com,Ada,Lovelace,+44 20 1234,Mobile,Engines Ltd,CTO,contacted,manual_import,"
        'owner@acme.test,"vip; trial, vip",UK,en,High,Inbound,42.5\n'
        "bob@example.com,Bob,Stone,,,,,new,,,,,,,,\n",
    )
    report = import_leads_csv(db, project, path, clock=clock)

    assert counts(report) == (2, 0, 0, 0)
    assert report.errors == [] and report.ignored_columns == []
    rows = stored(db, project)
    assert list(rows) == ["ada@example.com", "bob@example.com"]
    ada = rows["ada@example.com"]
    assert (ada.first_name, ada.last_name, ada.company, ada.job_title) == (
        "Ada",
        "Lovelace",
        "Engines Ltd",
        "CTO",
    )
    assert (ada.phone, ada.phone_type, ada.status, ada.source, ada.owner) == (
        "+44 20 1234",
        "mobile",
        "contacted",
        "manual_import",
        "owner@acme.test",
    )
    assert ada.tags == ["vip", "trial"]
    assert (ada.country, ada.language, ada.priority, ada.group_name) == (
        "UK",
        "en",
        "High",
        "Inbound",
    )
    assert (ada.engagement_score, ada.max_score) == (42.5, 42.5)
    assert ada.custom == {} and ada.enrichment is None
    assert as_utc(ada.created_at) == clock.now() == as_utc(ada.updated_at)
    bob = rows["bob@example.com"]
    assert (bob.company, bob.phone_type, bob.tags, bob.engagement_score) == (None, None, [], 0)


def test_header_aliases_are_recognised(db: Engine, project: Project, tmp_path: Path) -> None:
    project = with_custom_fields(db, project)
    path = write_csv(
        tmp_path,
        "E-mail Address,Full Name,Company Name,Title,Lead Status,Lead Source,Phone Number,"
        "Assigned To,Group,Score,Plan,Favourite Colour\n"
        "ada@example.com,Ada King Lovelace,Engines,CTO,Replied,webinar,555,"
        "Owner@Acme.test,Partners,7,pro,green\n",
    )
    report = import_leads_csv(db, project, path)

    assert counts(report) == (1, 0, 0, 0)
    assert report.ignored_columns == ["Favourite Colour"]
    ada = stored(db, project)["ada@example.com"]
    assert (ada.first_name, ada.last_name) == ("Ada", "King Lovelace")
    assert (ada.company, ada.job_title, ada.status, ada.source) == (
        "Engines",
        "CTO",
        "replied",
        "webinar",
    )
    assert (ada.phone, ada.owner, ada.group_name, ada.engagement_score) == (
        "555",
        "owner@acme.test",
        "Partners",
        7,
    )
    assert ada.custom == {"plan": "pro"}


def test_alias_spellings_for_names_and_dates(db: Engine, project: Project, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "Email,Firstname,Surname,Organisation,Created Date,Last Contacted\n"
        "ada@example.com,Ada,Lovelace,Engines,2023-01-15,2024-02-01T10:00:00+02:00\n",
    )
    report = import_leads_csv(db, project, path)

    assert counts(report) == (1, 0, 0, 0)
    ada = stored(db, project)["ada@example.com"]
    assert (ada.first_name, ada.last_name, ada.company) == ("Ada", "Lovelace", "Engines")
    assert as_utc(ada.created_at) == datetime(2023, 1, 15, tzinfo=UTC)
    assert as_utc(ada.last_contacted_at) == datetime(2024, 2, 1, 8, 0, tzinfo=UTC)


def test_map_overrides(db: Engine, project: Project, tmp_path: Path) -> None:
    project = with_custom_fields(db, project)
    path = write_csv(
        tmp_path,
        "Mail,Org,Tier,Headcount,Stack,Where,Phone,Notes\n"
        'ada@example.com,Engines,ent,120,"[""React"", ""AWS""]",Berlin,555-1,hello\n',
    )
    overrides = {
        "Mail": "email",
        "Org": "company",
        "Tier": "custom.plan",
        "Headcount": "enrichment.company.size",
        "Stack": "enrichment.company.technologies",
        "Where": "enrichment.person.location.city",
        "Phone": "-",  # would map to `phone` by name: ignored instead
    }
    report = import_leads_csv(db, project, path, overrides)

    assert counts(report) == (1, 0, 0, 0)
    assert report.ignored_columns == ["Phone", "Notes"]
    ada = stored(db, project)["ada@example.com"]
    assert ada.company == "Engines"
    assert ada.phone is None
    assert ada.custom == {"plan": "ent"}
    assert ada.enrichment == {
        "company": {"size": 120, "technologies": ["React", "AWS"]},
        "person": {"location": {"city": "Berlin"}},
    }


def test_map_enrichment_paths_merge_into_stored_enrichment(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    upsert_leads(
        db,
        project,
        [(0, {"email": "ada@example.com", "enrichment": {"company": {"size": 5, "x": 1}}})],
    )
    path = write_csv(tmp_path, "email,Size\nada@example.com,50\n")
    report = import_leads_csv(db, project, path, {"Size": "enrichment.company.size"})

    assert counts(report) == (0, 1, 0, 0)
    assert stored(db, project)["ada@example.com"].enrichment == {"company": {"size": 50, "x": 1}}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Nope": "company"}, "no column named 'Nope'"),
        ({"Org": "favourite_colour"}, "unknown field 'favourite_colour'"),
        ({"Org": "custom.undeclared"}, "unknown field 'custom.undeclared'"),
        ({"Org": "enrichment."}, "unknown field 'enrichment.'"),
    ],
)
def test_map_errors_name_the_problem(
    db: Engine, project: Project, tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    path = write_csv(tmp_path, "email,Org\nada@example.com,Engines\n")
    with pytest.raises(InvalidInput) as caught:
        import_leads_csv(db, project, path, overrides)
    assert caught.value.path == "--map"
    assert message in caught.value.message
    assert count_leads(db, project) == 0


def test_two_columns_for_one_field_are_an_error(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, "Email,E-mail Address\nada@example.com,\n")
    with pytest.raises(InvalidInput) as caught:
        import_leads_csv(db, project, path)
    assert caught.value.path == "line 1"
    assert "'Email' and 'E-mail Address' both map to email" in caught.value.message
    assert count_leads(db, project) == 0

    report = import_leads_csv(db, project, path, {"E-mail Address": "-"})
    assert counts(report) == (1, 0, 0, 0)
    assert list(stored(db, project)) == ["ada@example.com"]


def test_non_finite_numbers_are_not_stored_as_json(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        "email,Size,Enrichment\n"
        "ada@example.com,NaN,\n"
        "bob@example.com,-Infinity,\n"
        'cy@example.com,3,"{""company"": {""revenue"": NaN}}"\n',
    )
    report = import_leads_csv(
        db, project, path, {"Size": "enrichment.company.size", "Enrichment": "enrichment"}
    )

    assert counts(report) == (2, 0, 0, 1)
    assert errors_by_line(report) == {4: "enrichment.company.revenue: expected a finite number"}
    rows = stored(db, project)
    # Not JSON numbers: kept as the text the cell held, the same on every backend.
    assert rows["ada@example.com"].enrichment == {"company": {"size": "NaN"}}
    assert rows["bob@example.com"].enrichment == {"company": {"size": "-Infinity"}}


def test_an_oversized_cell_is_reported_and_later_lines_stay_right(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    huge = "a" * 1_100_000
    path = write_csv(
        tmp_path,
        f'email,job_title\nada@example.com,"{huge}"\nbob@example.com,CTO\nbad,x\n',
    )
    report = import_leads_csv(db, project, path)

    assert counts(report) == (1, 0, 0, 2)
    errors = errors_by_line(report)
    assert sorted(errors) == [2, 4]
    assert errors[2].startswith("malformed CSV (field larger than field limit")
    assert list(stored(db, project)) == ["bob@example.com"]


def test_a_file_without_email_warns_that_it_cannot_be_matched(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, "first_name,company\nAda,Engines\nBob,Bobco\n")
    first = import_leads_csv(db, project, path)
    again = import_leads_csv(db, project, path)

    assert first.warnings == again.warnings == [NO_EMAIL_WARNING]
    # Leads without an email are valid, so they are still created: the warning says so.
    assert counts(first) == counts(again) == (2, 0, 0, 0)
    assert count_leads(db, project) == 4
    ignored = write_csv(tmp_path, "email,first_name\nada@example.com,Ada\n", "ignored.csv")
    assert import_leads_csv(db, project, ignored, {"email": "-"}).warnings == [NO_EMAIL_WARNING]
    assert import_leads_csv(db, project, ignored).warnings == []


def test_a_header_matching_no_field_is_an_error(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, "Colour,Mood\ngreen,happy\n")
    with pytest.raises(InvalidInput, match="no column matches a lead field"):
        import_leads_csv(db, project, path)


# --- dedupe and conflicts --------------------------------------------------------------------


def test_duplicate_emails_in_one_file_are_merged_case_insensitively(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        "email,first_name,company,job_title\n"
        "Ada@Example.COM,Ada,Engines,\n"
        "bob@example.com,Bob,,\n"
        "  ada@example.com ,,,CTO\n",
    )
    report = import_leads_csv(db, project, path)

    assert counts(report) == (2, 1, 0, 0)
    rows = stored(db, project)
    assert list(rows) == ["ada@example.com", "bob@example.com"]
    ada = rows["ada@example.com"]
    assert (ada.first_name, ada.company, ada.job_title) == ("Ada", "Engines", "CTO")


def test_duplicate_emails_in_one_file_with_skip_keep_the_first(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, "email,company\nada@example.com,First\nADA@example.com,Second\n")
    report = import_leads_csv(db, project, path, on_conflict="skip")

    assert counts(report) == (1, 0, 1, 0)
    assert stored(db, project)["ada@example.com"].company == "First"


def _seed_stored(db: Engine, project: Project, clock: FrozenClock) -> None:
    report = upsert_leads(
        db,
        project,
        [
            (
                0,
                {
                    "email": "ada@example.com",
                    "first_name": "Ada",
                    "company": "Engines",
                    "job_title": "Engineer",
                    "tags": ["old"],
                    "custom.plan": "free",
                    "custom.budget": 5000,
                    "created_at": "2020-01-01",
                },
            ),
            (1, {"email": "bob@example.com", "first_name": "Bob"}),
        ],
        clock=clock,
    )
    assert report.failed == 0


def test_update_merges_into_stored_leads(
    db: Engine, project: Project, tmp_path: Path, clock: FrozenClock
) -> None:
    project = with_custom_fields(db, project)
    _seed_stored(db, project, clock)
    later = FrozenClock(datetime(2026, 11, 2, tzinfo=UTC))
    path = write_csv(
        tmp_path,
        "email,first_name,company,job_title,tags,plan,newsletter,created_at\n"
        "ADA@EXAMPLE.COM,,,CTO,new-tag,pro,yes,2025-06-01\n"
        "cy@example.com,Cy,,,,,,\n",
    )
    report = import_leads_csv(db, project, path, clock=later)

    assert counts(report) == (1, 1, 0, 0)
    rows = stored(db, project)
    assert list(rows) == ["ada@example.com", "bob@example.com", "cy@example.com"]
    ada = rows["ada@example.com"]
    # Blank cells keep what is stored; given cells replace it.
    assert (ada.first_name, ada.company, ada.job_title) == ("Ada", "Engines", "CTO")
    assert ada.tags == ["new-tag"]
    # Custom fields merge key by key.
    assert ada.custom == {"plan": "pro", "budget": 5000, "newsletter": True}
    # A lead's creation time is kept from its first import; the update time moves.
    assert as_utc(ada.created_at) == datetime(2020, 1, 1, tzinfo=UTC)
    assert as_utc(ada.updated_at) == later.now()
    assert rows["bob@example.com"].first_name == "Bob"


def test_skip_leaves_stored_leads_alone(
    db: Engine, project: Project, tmp_path: Path, clock: FrozenClock
) -> None:
    project = with_custom_fields(db, project)
    _seed_stored(db, project, clock)
    path = write_csv(
        tmp_path,
        "email,company,plan\nada@example.com,Other,pro\nBob@example.com,Bobco,\n"
        "cy@example.com,Cyco,ent\n",
    )
    report = import_leads_csv(db, project, path, on_conflict="skip", clock=clock)

    assert counts(report) == (1, 0, 2, 0)
    rows = stored(db, project)
    assert rows["ada@example.com"].company == "Engines"
    assert rows["ada@example.com"].custom == {"plan": "free", "budget": 5000}
    assert rows["bob@example.com"].company is None
    assert rows["cy@example.com"].custom == {"plan": "ent"}


def test_unknown_on_conflict_is_rejected(db: Engine, project: Project, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "email\nada@example.com\n")
    with pytest.raises(InvalidInput):
        import_leads_csv(db, project, path, on_conflict="merge")  # type: ignore[arg-type]


def test_created_at_and_last_contacted_at_are_accepted(
    db: Engine, project: Project, tmp_path: Path, clock: FrozenClock
) -> None:
    path = write_csv(
        tmp_path,
        "email,created_at,last_contacted_at\n"
        "ada@example.com,2024-03-01,2024-03-05T09:30:00Z\n"
        "bob@example.com,2024-03-02T10:00:00-05:00,\n"
        "cy@example.com,,\n",
    )
    report = import_leads_csv(db, project, path, clock=clock)

    assert counts(report) == (3, 0, 0, 0)
    rows = stored(db, project)
    assert as_utc(rows["ada@example.com"].created_at) == datetime(2024, 3, 1, tzinfo=UTC)
    assert as_utc(rows["ada@example.com"].last_contacted_at) == datetime(
        2024, 3, 5, 9, 30, tzinfo=UTC
    )
    assert as_utc(rows["bob@example.com"].created_at) == datetime(2024, 3, 2, 15, 0, tzinfo=UTC)
    assert rows["bob@example.com"].last_contacted_at is None
    assert as_utc(rows["cy@example.com"].created_at) == clock.now()


# --- bad rows --------------------------------------------------------------------------------


def test_bad_rows_are_reported_by_line_and_good_rows_kept(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    project = with_custom_fields(db, project)
    text = (
        b"email,status,created_at,budget,Extra\n"  # line 1
        b"good1@example.com,new,2024-01-01,100,\n"  # 2
        b"not-an-email,new,,,\n"  # 3
        b"bad-status@example.com,archived,,,\n"  # 4
        b"bad-date@example.com,new,yesterday,,\n"  # 5
        b'undeclared@example.com,new,,,"{""colour"": ""red""}"\n'  # 6
        b"few@example.com,new\n"  # 7
        b"many@example.com,new,,,,surplus\n"  # 8
        b"bad-number@example.com,new,,lots,\n"  # 9
        b"good2@example.com,Qualified,,,\n"  # 10
    )
    path = write_csv(tmp_path, text)
    report = import_leads_csv(db, project, path, {"Extra": "custom"})

    assert counts(report) == (2, 0, 0, 7)
    errors = errors_by_line(report)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9]
    assert errors[3] == "email: 'not-an-email' is not an email address"
    assert errors[4].startswith("status: 'archived' is not one of new, contacted")
    assert errors[5].startswith("created_at: expected an ISO date or datetime")
    assert "'yesterday'" in errors[5]
    assert errors[6] == "custom.colour: no custom field 'colour': declare it first"
    assert errors[7] == "expected 5 fields as in the header, found 2"
    assert errors[8] == "expected 5 fields as in the header, found 6"
    assert errors[9] == "custom.budget: expected a number, got 'lots'"
    rows = stored(db, project)
    assert sorted(rows) == ["good1@example.com", "good2@example.com"]
    assert rows["good1@example.com"].custom == {"budget": 100}
    assert rows["good2@example.com"].status == "qualified"


def test_a_row_with_values_only_in_ignored_columns_creates_no_lead(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        "email,first_name,Notes\nada@example.com,Ada,x\n, ,Total: 1 lead\n,Bob,\n",
    )
    report = import_leads_csv(db, project, path)

    assert counts(report) == (2, 0, 0, 1)
    assert errors_by_line(report) == {3: "no value for any lead field"}
    rows = stored(db, project)
    assert [(email, row.first_name) for email, row in rows.items()] == [
        ("ada@example.com", "Ada"),
        (None, "Bob"),  # a lead without an email is still a lead
    ]


def test_several_problems_in_one_row_are_reported_together(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, "email,status,phone_type\nnope,maybe,fax\n")
    report = import_leads_csv(db, project, path)

    assert counts(report) == (0, 0, 0, 1)
    message = errors_by_line(report)[2]
    assert "email: 'nope' is not an email address" in message
    assert "status: 'maybe'" in message
    assert "phone_type: 'fax'" in message


def test_error_callback_sees_every_error(db: Engine, project: Project, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "email\nx\nada@example.com\ny\n")
    seen: list[tuple[int, str]] = []
    report = import_leads_csv(
        db, project, path, on_error=lambda e: seen.append((e.location, e.message))
    )
    assert counts(report) == (1, 0, 0, 2)
    assert [line for line, _ in seen] == [2, 4]


def test_a_failing_batch_write_keeps_the_other_rows(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    with db.begin() as conn:
        account = create_account(conn, project, {"name": "Engines", "metadata": {}})
    lines = ["email,account_id"]
    lines += [f"lead{i}@example.com,{account.id}" for i in range(5)]
    lines += ["ghost@example.com,987654"]  # line 7: no such account in the project
    lines += [f"lead{i}@example.com," for i in range(5, 10)]
    path = write_csv(tmp_path, "\n".join(lines) + "\n")

    report = import_leads_csv(db, project, path)

    assert counts(report) == (10, 0, 0, 1)
    errors = errors_by_line(report)
    assert list(errors) == [7]
    assert "foreign key" in errors[7].lower()
    rows = stored(db, project)
    assert "ghost@example.com" not in rows
    assert sorted(rows) == sorted(f"lead{i}@example.com" for i in range(10))
    assert {rows[f"lead{i}@example.com"].account_id for i in range(5)} == {account.id}


def test_another_projects_account_is_not_accepted(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    from segmint.projects import create_project

    with db.begin() as conn:
        other = create_project(conn, project.organization_id, "other")
        foreign = create_account(conn, other, {"name": "Elsewhere", "metadata": {}})
    path = write_csv(
        tmp_path, f"email,account_id\nada@example.com,{foreign.id}\nbob@example.com,\n"
    )
    report = import_leads_csv(db, project, path)

    assert counts(report) == (1, 0, 0, 1)
    assert list(errors_by_line(report)) == [2]
    assert list(stored(db, project)) == ["bob@example.com"]


def test_an_out_of_range_account_id_is_a_row_error(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, "email,account_id\nada@example.com,1e30\nbob@example.com,\n")
    report = import_leads_csv(db, project, path)

    assert counts(report) == (1, 0, 0, 1)
    assert errors_by_line(report) == {2: "account_id: expected an account id"}
    assert list(stored(db, project)) == ["bob@example.com"]


# --- encodings and CSV layout ----------------------------------------------------------------


def test_unicode_values(db: Engine, project: Project, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "email,first_name,last_name,company,job_title\n"
        "ZOË@Exemple.fr,Zoë,Ångström,Société Générale,Directrice générale\n"
        "li@example.cn,李,小龙,北京公司,🚀 Growth\n",
    )
    report = import_leads_csv(db, project, path)

    assert counts(report) == (2, 0, 0, 0)
    rows = stored(db, project)
    assert (rows["zoë@exemple.fr"].first_name, rows["zoë@exemple.fr"].last_name) == (
        "Zoë",
        "Ångström",
    )
    assert rows["zoë@exemple.fr"].company == "Société Générale"
    assert (rows["li@example.cn"].first_name, rows["li@example.cn"].job_title) == (
        "李",
        "🚀 Growth",
    )


def test_nul_and_surrogate_escapes_fail_only_their_line(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        "email,job_title,Enrichment\n"
        "ada@example.com,CTO,\n"
        "bob@example.com,C\x00TO,\n"
        'cy@example.com,,"{""company"": {""name"": ""\\ud800""}}"\n'
        'dee@example.com,,"{""company"": {""name"": ""\\u0000""}}"\n'
        "eve@example.com,VP,\n",
    )
    report = import_leads_csv(db, project, path, {"Enrichment": "enrichment"})

    assert counts(report) == (2, 0, 0, 3)
    errors = errors_by_line(report)
    assert errors[3].startswith("job_title: contains a NUL character")
    assert errors[4].startswith("enrichment.company.name: contains a lone UTF-16 surrogate")
    assert errors[5].startswith("enrichment.company.name: contains a NUL character")
    assert list(stored(db, project)) == ["ada@example.com", "eve@example.com"]


def test_utf8_bom_is_ignored(db: Engine, project: Project, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "\ufeffemail,first_name\nada@example.com,Ada\n".encode())
    report = import_leads_csv(db, project, path)

    assert counts(report) == (1, 0, 0, 0)
    assert report.ignored_columns == []
    assert stored(db, project)["ada@example.com"].first_name == "Ada"


def test_a_header_that_is_not_utf8_is_an_error(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, b"email,Pr\xe9nom\nada@example.com,Ada\n")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        import_leads_csv(db, project, path)


def test_a_file_not_in_utf8_is_refused_before_a_row_is_written(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    # Windows-1252, as Excel on Windows saves "CSV": the é of line 3 is one byte, 0xE9.
    path = write_csv(
        tmp_path, "email,company\nada@example.com,Engines\nbob@x.test,Société\n".encode("cp1252")
    )
    with pytest.raises(InvalidInput) as caught:
        import_leads_csv(db, project, path)
    assert caught.value.path == "line 3"
    assert caught.value.message.startswith(
        "the file is not UTF-8: byte 0xE9 at column 16 (offset 53 in the file) is not valid UTF-8;"
    )
    assert "Windows-1252" in caught.value.message
    assert count_leads(db, project) == 0

    report = import_leads_csv(db, project, path, encoding="windows-1252")
    assert counts(report) == (2, 0, 0, 0)
    assert stored(db, project)["bob@x.test"].company == "Société"


def test_bytes_past_the_checked_start_fail_only_their_row(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    rows = "".join(f"lead{i}@x.test,Company {i}\n" for i in range(4000))  # over 64 KB
    path = write_csv(tmp_path, b"email,company\n" + rows.encode() + b"late@x.test,Soci\xe9t\xe9\n")
    report = import_leads_csv(db, project, path)
    assert counts(report) == (4000, 0, 0, 1)
    assert errors_by_line(report) == {4002: "company: not valid UTF-8; save the file as UTF-8"}


def test_an_unclosed_quote_is_reported_and_the_rows_after_it_imported(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    text = (
        "email,first_name,company\n"  # 1
        'ada@example.com,Ada,"Engines\n'  # 2: the quote never closes
        "bob@example.com,Bob,Bobco\n"  # 3
        "cy@example.com,Cy,Cyco\n"  # 4
    )
    report = import_leads_csv(db, project, write_csv(tmp_path, text))

    assert counts(report) == (2, 0, 0, 1)
    assert errors_by_line(report) == {
        2: "unclosed quote: the quoted field starting on this line never ends, so lines 3-4 are "
        'read as rows of their own; close the quote, or double a quote that is part of a value ("")'
    }
    assert list(stored(db, project)) == ["bob@example.com", "cy@example.com"]


def test_an_unclosed_quote_closed_by_a_later_quote_swallows_nothing(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    text = (
        "email,first_name,company\n"  # 1
        'ada@example.com,"Ada,Engines\n'  # 2: unclosed ...
        "bob@example.com,Bob,Bobco\n"  # 3
        'cy@example.com,Cy,"Navy, Inc."\n'  # 4: ... until this quote, mid-value
        'dee@example.com,"Dee\n'  # 5: unclosed ...
        'eve@example.com,Eve"\n'  # 6: ... closed where a field may end: 2 fields, not 3
        'fay@example.com,Fay,"Fay\nand Co"\n'  # 7-8: a value spanning lines, kept
    )
    report = import_leads_csv(db, project, write_csv(tmp_path, text))

    errors = errors_by_line(report)
    assert sorted(errors) == [2, 5, 6]
    assert errors[2].startswith(
        "unclosed quote: the quoted field starting on this line is "
        "closed on line 4 in the middle of a value, so lines 3-4 are read"
    )
    assert errors[5].startswith(
        "unclosed quote: the quoted field starting on this line runs to "
        "line 6 and leaves a row that does not fit the header"
    )
    assert errors[6] == "expected 3 fields as in the header, found 2"
    rows = stored(db, project)
    assert list(rows) == ["bob@example.com", "cy@example.com", "fay@example.com"]
    assert rows["cy@example.com"].company == "Navy, Inc."
    assert rows["fay@example.com"].company == "Fay\nand Co"


def test_quoted_newlines_keep_later_line_numbers_right(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    text = (
        "email,job_title,status\r\n"  # 1
        'ada@example.com,"Head of\r\nEverything\r\nand more",new\r\n'  # 2-4
        "bad,CTO,new\r\n"  # 5
        "\r\n"  # 6: blank, not a record
        'bob@example.com,"line one\nline two",nope\r\n'  # 7-8
        "cy@example.com,CEO,new\r\n"  # 9
        "also bad,x,new\r\n"  # 10
    )
    path = write_csv(tmp_path, text)
    report = import_leads_csv(db, project, path)

    assert counts(report) == (2, 0, 0, 3)
    errors = errors_by_line(report)
    assert sorted(errors) == [5, 7, 10]
    assert errors[5].startswith("email:")
    assert errors[7].startswith("status:")
    rows = stored(db, project)
    assert rows["ada@example.com"].job_title == "Head of\r\nEverything\r\nand more"
    assert rows["cy@example.com"].job_title == "CEO"


def test_an_empty_file_is_an_error(db: Engine, project: Project, tmp_path: Path) -> None:
    path = write_csv(tmp_path, b"")
    with pytest.raises(InvalidInput, match="empty"):
        import_leads_csv(db, project, path)


def test_a_header_only_file_imports_nothing(db: Engine, project: Project, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "email,first_name\n")
    report = import_leads_csv(db, project, path)

    assert counts(report) == (0, 0, 0, 0)
    assert report.errors == []
    assert count_leads(db, project) == 0


def test_progress_reports_every_byte(db: Engine, project: Project, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "email\n" + "".join(f"l{i}@example.com\n" for i in range(500)))
    seen: list[int] = []
    import_leads_csv(db, project, path, on_progress=seen.append)
    assert sum(seen) == path.stat().st_size


# --- scale -----------------------------------------------------------------------------------

BIG_ROWS = 100_000
STREAMING_HEADROOM = 50 * 2**20  # bytes; holding 100k parsed rows would take several times this


def _peak_memory_of_import(db_url: str, path: Path) -> int:
    """Run `segmint import leads` as users do; the peak resident memory of that process."""
    log = path.with_suffix(".log")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "segmint",
                "import",
                "leads",
                str(path),
                "--database-url",
                db_url,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(encoding="utf-8")
    assert process.returncode == 0, output
    assert " 0 failed" in output, output
    return usage.ru_maxrss * 1024  # kilobytes on Linux


@pytest.mark.slow
def test_a_large_file_is_imported_in_bounded_memory(
    db_url: str, db: Engine, project: Project, tmp_path: Path
) -> None:
    """A 100k-row file costs the importing process no more memory than a one-row file, give or
    take a batch: rows stream from the file to the database."""
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    header = "email,first_name,last_name,company,job_title,status,tags,created_at\n"
    small.write_text(header + "first@example.com,A,B,C,D,new,,2024-01-01\n", encoding="utf-8")
    with big.open("w", encoding="utf-8", newline="") as out:
        out.write(header)
        for i in range(BIG_ROWS):
            out.write(
                f"lead{i}@example.com,First{i},Last{i},Company {i % 997},Engineer,new,"
                f'"a,b",2024-01-{i % 28 + 1:02d}\n'
            )
    assert big.stat().st_size > 8_000_000

    baseline = _peak_memory_of_import(db_url, small)
    peak = _peak_memory_of_import(db_url, big)

    assert peak < baseline + STREAMING_HEADROOM, f"{peak / 2**20:.0f} MiB vs {baseline / 2**20:.0f}"
    assert count_leads(db, project) == BIG_ROWS + 1
    with db.connect() as conn:
        last = conn.execute(
            sa.select(leads.c.first_name, leads.c.tags).where(
                leads.c.project_id == project.id, leads.c.email == f"lead{BIG_ROWS - 1}@example.com"
            )
        ).one()
    assert (last.first_name, last.tags) == (f"First{BIG_ROWS - 1}", ["a", "b"])


def test_a_large_import_leaves_sqlite_with_statistics(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    """Without statistics SQLite reads a one-project database's leads through an index on
    project_id; after a large load it has them, and scans (finding 12, performance.md)."""
    path = tmp_path / "many.csv"
    path.write_text(
        "email,status\n" + "".join(f"l{i}@x.test,new\n" for i in range(10_000)), encoding="utf-8"
    )
    import_leads_csv(db, project, path)
    if db.dialect.name != "sqlite":
        return  # PostgreSQL's autovacuum keeps its statistics
    with db.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_stat1").scalar()
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM leads "
            f"WHERE project_id = {project.id} AND segmint_fold(status) = 'new'"
        ).fetchall()
    assert "SCAN leads" in str(plan), plan
