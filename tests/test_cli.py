"""`segmint init`, `users add` and `import ...` through the real CLI, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from segmint import auth, bootstrap
from segmint.cli import app
from segmint.ingest import upsert_leads
from segmint.model import Role
from segmint.projects import Project
from segmint.store.tables import events, leads, organizations, projects, users
from segmint.worker.loop import Worker

runner = CliRunner()


def run(db_url: str, *args: str) -> Result:
    return runner.invoke(app, [*args, "--database-url", db_url])


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("line ")]


def scalar(db: Engine, query: sa.Select[tuple[int]]) -> int:
    with db.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_init_creates_an_organization_project_and_owner(db: Engine, db_url: str) -> None:
    result = run(db_url, "init", "--owner-email", "Boss@Acme.test")
    assert result.exit_code == 0, result.output
    assert "project default" in result.stdout
    assert "owner: Boss@Acme.test" in result.stdout

    again = run(db_url, "init", "--owner-email", "boss@acme.test")
    assert again.exit_code == 0, again.output
    count = sa.select(sa.func.count())
    assert scalar(db, count.select_from(organizations)) == 1
    assert scalar(db, count.select_from(projects)) == 1
    assert scalar(db, count.select_from(users)) == 1
    with db.connect() as conn:
        owner = conn.execute(sa.select(users.c.email, users.c.role)).one()
    assert tuple(owner) == ("boss@acme.test", "owner")


def test_init_upgrades_an_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = run(url, "init")
    assert result.exit_code == 0, result.output
    assert "project default" in result.stdout


def test_users_add_prints_a_token_that_authenticates(db: Engine, db_url: str) -> None:
    assert run(db_url, "init", "--owner-email", "boss@acme.test").exit_code == 0

    result = run(db_url, "users", "add", "Ann@Acme.test", "--role", "admin")
    assert result.exit_code == 0, result.output
    token = result.stdout.splitlines()[-1]
    assert token.startswith(auth.TOKEN_PREFIX)
    assert token not in result.stderr
    with db.begin() as conn:
        principal = auth.authenticate_token(conn, token)
    assert principal is not None
    assert (principal.email, principal.role, principal.project_id) == (
        "ann@acme.test",
        Role.ADMIN,
        None,
    )

    # The same user again: a second token, no second user.
    again = run(db_url, "users", "add", "ann@acme.test", "--project", "default")
    assert again.exit_code == 0, again.output
    second = again.stdout.splitlines()[-1]
    assert second != token
    with db.begin() as conn:
        principal = auth.authenticate_token(conn, second)
        assert principal is not None and principal.project_id is not None
        assert auth.authenticate_token(conn, token) is not None
    assert scalar(db, sa.select(sa.func.count()).select_from(users)) == 2


def test_users_add_reports_an_existing_users_real_role(db: Engine, db_url: str) -> None:
    run(db_url, "init", "--owner-email", "boss@acme.test")
    assert run(db_url, "users", "add", "ann@acme.test").exit_code == 0  # a member

    result = run(db_url, "users", "add", "ann@acme.test", "--role", "admin")
    assert result.exit_code == 0, result.output
    assert "(member)" in result.stdout and "(admin)" not in result.stdout
    assert "already exists as member" in result.stderr
    with db.begin() as conn:
        principal = auth.authenticate_token(conn, result.stdout.splitlines()[-1])
    assert principal is not None and principal.role == Role.MEMBER


def test_users_role_and_remove_keep_an_owner_and_lock_the_removed_out(
    db: Engine, db_url: str
) -> None:
    run(db_url, "init", "--owner-email", "boss@acme.test")
    token = run(db_url, "users", "add", "ann@acme.test").stdout.splitlines()[-1]

    last = run(db_url, "users", "role", "boss@acme.test", "admin")
    assert last.exit_code == 1 and "last owner" in last.stderr, last.output
    promoted = run(db_url, "users", "role", "Ann@acme.test", "owner")
    assert promoted.exit_code == 0, promoted.output
    assert "ann@acme.test is now owner" in promoted.stdout
    assert run(db_url, "users", "role", "boss@acme.test", "member").exit_code == 0

    assert run(db_url, "users", "remove", "ann@acme.test").exit_code == 1  # the last owner now
    removed = run(db_url, "users", "remove", "boss@acme.test")
    assert removed.exit_code == 0, removed.output
    unknown = run(db_url, "users", "remove", "boss@acme.test")
    assert unknown.exit_code == 1 and "no user boss@acme.test" in unknown.stderr
    with db.begin() as conn:
        assert auth.authenticate_token(conn, token) is not None  # ann's, untouched
    # Added back: the same user, a member again, with a working token.
    back = run(db_url, "users", "add", "boss@acme.test")
    assert back.exit_code == 0 and "(member)" in back.stdout, back.output
    with db.begin() as conn:
        principal = auth.authenticate_token(conn, back.stdout.splitlines()[-1])
    assert principal is not None and principal.role == Role.MEMBER
    assert scalar(db, sa.select(sa.func.count()).select_from(users)) == 2


def test_the_cli_acts_as_the_first_owner_not_removed(db: Engine, db_url: str) -> None:
    """With no --user, commands act as the organization's earliest owner: a removed one is
    passed over for the next."""
    run(db_url, "init", "--owner-email", "boss@acme.test")
    assert run(db_url, "users", "add", "ann@acme.test", "--role", "owner").exit_code == 0
    assert run(db_url, "users", "remove", "boss@acme.test").exit_code == 0
    listed = run(db_url, "segments", "list")
    assert listed.exit_code == 0, listed.output


def test_init_makes_the_named_user_an_owner(db: Engine, db_url: str) -> None:
    run(db_url, "init")
    run(db_url, "users", "add", "ann@acme.test", "--role", "member")

    result = run(db_url, "init", "--owner-email", "ann@acme.test")
    assert result.exit_code == 0, result.output
    assert "owner: ann@acme.test" in result.stdout
    with db.connect() as conn:
        assert conn.execute(sa.select(users.c.role)).scalar_one() == "owner"


def test_init_refuses_a_short_password(db: Engine, db_url: str) -> None:
    result = run(db_url, "init", "--owner-email", "boss@acme.test", "--owner-password", "short")
    assert result.exit_code == 2
    assert "--owner-password: too short (5 characters); a password needs at least 10" in (
        result.stderr
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "password", ["password1234", "1234567890", "zzzzzzzzzzzz", "boss.hogg-rules"]
)
def test_weak_passwords_are_a_usage_error_and_nothing_is_written(
    db: Engine, db_url: str, password: str
) -> None:
    result = run(
        db_url, "init", "--owner-email", "boss.hogg@acme.test", "--owner-password", password
    )
    assert result.exit_code == 2, result.output
    assert "error: --owner-password: " in result.stderr
    assert "not a common password or an easy pattern" in result.stderr
    run(db_url, "init")
    added = run(db_url, "users", "add", "boss.hogg@acme.test", "--password", password)
    assert added.exit_code == 2 and "error: --password: " in added.stderr
    with db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar() == 0


def test_users_add_with_a_password(db: Engine, db_url: str) -> None:
    run(db_url, "init")
    result = run(db_url, "users", "add", "ann@acme.test", "--password", "long-enough-pw")
    assert result.exit_code == 0, result.output
    with db.connect() as conn:
        principal = auth.authenticate_password(conn, "ann@acme.test", "long-enough-pw")
    assert principal is not None and principal.role == Role.MEMBER


def test_users_add_errors(db: Engine, db_url: str) -> None:
    result = run(db_url, "users", "add", "ann@acme.test")
    assert result.exit_code == 1
    assert "segmint init" in result.stderr and "Traceback" not in result.output

    run(db_url, "init")
    result = run(db_url, "users", "add", "ann@acme.test", "--project", "nope")
    assert result.exit_code == 1
    assert "no project 'nope'" in result.stderr
    result = run(db_url, "users", "add", "ann@acme.test", "--role", "king")
    assert result.exit_code == 2  # a usage error, reported by the option parser
    assert scalar(db, sa.select(sa.func.count()).select_from(users)) == 0


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_import_leads_good_file_exits_0(
    db: Engine, db_url: str, project: Project, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "leads.csv",
        "Email,Org,Notes\nada@example.com,Engines,x\nbob@example.com,Bobco,y\n",
    )
    result = run(db_url, "import", "leads", path, "--map", "Org=company")

    assert result.exit_code == 0, result.output
    summary = result.stdout.splitlines()[-1]
    assert summary.startswith("leads: 2 created, 0 updated, 0 skipped, 0 failed in ")
    assert "ignored columns: Notes" in result.stderr
    assert "warning" not in result.stderr
    assert error_lines(result) == []
    with db.connect() as conn:
        rows = conn.execute(sa.select(leads.c.email, leads.c.company).order_by(leads.c.id)).all()
    assert [tuple(r) for r in rows] == [
        ("ada@example.com", "Engines"),
        ("bob@example.com", "Bobco"),
    ]

    again = run(db_url, "import", "leads", path, "--on-conflict", "skip")
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[-1].startswith(
        "leads: 0 created, 0 updated, 2 skipped, 0 failed"
    )


def test_import_leads_without_an_email_column_warns_how_to_match(
    db: Engine, db_url: str, project: Project, tmp_path: Path
) -> None:
    path = write(tmp_path, "leads.csv", "Name,Mail\nAda Lovelace,ada@example.com\n")
    for created in (1, 2):  # the second run cannot match the first: a duplicate
        result = run(db_url, "import", "leads", path)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[-1].startswith("leads: 1 created, 0 updated")
        assert "warning: no column maps to email" in result.stderr
        assert "importing the file again duplicates them" in result.stderr
        assert '--map "Column=email"' in result.stderr
        assert scalar(db, sa.select(sa.func.count()).select_from(leads)) == created

    matched = run(db_url, "import", "leads", path, "--map", "Mail=email")
    assert matched.exit_code == 0 and "warning" not in matched.stderr
    assert matched.stdout.splitlines()[-1].startswith("leads: 1 created, 0 updated")
    again = run(db_url, "import", "leads", path, "--map", "Mail=email")
    assert again.stdout.splitlines()[-1].startswith("leads: 0 created, 1 updated")


def test_import_leads_with_bad_rows_exits_2(
    db: Engine, db_url: str, project: Project, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "leads.csv",
        "email,status,created_at\n"
        "ada@example.com,new,2024-01-01\n"
        "not-an-email,new,\n"
        "bob@example.com,new,\n"
        "cy@example.com,new,the day before yesterday in the afternoon\n",
    )
    result = run(db_url, "import", "leads", path)

    assert result.exit_code == 2, result.output
    summary = result.stdout.splitlines()[-1]
    assert summary.startswith("leads: 2 created, 0 updated, 0 skipped, 2 failed in ")
    assert "line" not in result.stdout
    errors = error_lines(result)
    assert errors[0] == "line 3: email: 'not-an-email' is not an email address"
    # One error per line of stderr, however long (scripts grep for `line N:`).
    assert errors[1].startswith("line 5: created_at: expected an ISO date or datetime")
    assert errors[1].endswith("got 'the day before yesterday in the afternoon'")
    assert len(errors) == 2
    assert scalar(db, sa.select(sa.func.count()).select_from(leads)) == 2


def test_import_leads_bad_options(
    db: Engine, db_url: str, project: Project, tmp_path: Path
) -> None:
    path = write(tmp_path, "leads.csv", "email\nada@example.com\n")

    result = run(db_url, "import", "leads", path, "--map", "Nope=company")
    assert result.exit_code == 1
    assert "no column named 'Nope'" in result.stderr

    result = run(db_url, "import", "leads", path, "--map", "email")
    assert result.exit_code == 1
    assert "COLUMN=field" in result.stderr

    result = run(db_url, "import", "leads", path, "--on-conflict", "merge")
    assert result.exit_code == 2
    assert "update or skip" in result.stderr

    result = run(db_url, "import", "leads", str(tmp_path / "missing.csv"))
    assert result.exit_code == 2

    empty = write(tmp_path, "empty.csv", "")
    result = run(db_url, "import", "leads", empty)
    assert result.exit_code == 1
    assert "empty" in result.stderr
    assert scalar(db, sa.select(sa.func.count()).select_from(leads)) == 0


def test_import_leads_refuses_a_file_in_another_encoding_until_it_is_named(
    db: Engine, db_url: str, project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("Email,Org\nzoe@example.com,Société Générale\n".encode("cp1252"))
    result = run(db_url, "import", "leads", str(path))
    assert result.exit_code == 1
    assert "line 2: the file is not UTF-8: byte 0xE9 at column 21 (offset 30" in result.stderr
    assert "--encoding windows-1252" in result.stderr
    assert scalar(db, sa.select(sa.func.count()).select_from(leads)) == 0

    result = run(db_url, "import", "leads", str(path), "--encoding", "windows-1252")
    assert result.exit_code == 0, result.output
    with db.connect() as conn:
        assert conn.execute(sa.select(leads.c.company)).scalar_one() == "Société Générale"
    result = run(db_url, "import", "leads", str(path), "--encoding", "latin-9")
    assert result.exit_code == 2 and "utf-8 or windows-1252" in result.stderr


def test_import_leads_reports_an_unclosed_quote_and_imports_the_rows_after_it(
    db: Engine, db_url: str, project: Project, tmp_path: Path
) -> None:
    text = 'email,company\nada@example.com,"Engines\nbob@example.com,Bobco\n'
    result = run(db_url, "import", "leads", write(tmp_path, "leads.csv", text))
    assert result.exit_code == 2, result.output
    assert result.stdout.splitlines()[-1].startswith("leads: 1 created, 0 updated, 0 skipped, 1")
    assert error_lines(result) == [
        "line 2: unclosed quote: the quoted field starting on this line never ends, so line 3 is "
        "read as a row of its own; close the quote, or double a quote that is part of a "
        'value ("")'
    ]


@pytest.mark.parametrize("kind", ["leads", "events"])
def test_import_into_an_unknown_project_is_a_clear_error(
    db_url: str, project: Project, tmp_path: Path, kind: str
) -> None:
    path = write(tmp_path, "file", "email\nada@example.com\n")
    result = run(db_url, "import", kind, path, "--project", "nope")

    assert result.exit_code == 1
    assert "error: no project 'nope'" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_import_events(db: Engine, db_url: str, project: Project, tmp_path: Path) -> None:
    run(db_url, "import", "leads", write(tmp_path, "l.csv", "email\nada@example.com\n"))
    good = write(
        tmp_path,
        "good.jsonl",
        json.dumps({"email": "ada@example.com", "type": "page_view"})
        + "\n"
        + json.dumps({"email": "ada@example.com", "type": "email_open"})
        + "\n",
    )
    result = run(db_url, "import", "events", good)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("events: 2 accepted, 0 failed in ")

    bad = write(
        tmp_path,
        "bad.jsonl",
        "{not json\n"
        + json.dumps({"email": "ada@example.com", "type": "trial_signup"})
        + "\n"
        + json.dumps({"email": "nobody@example.com", "type": "x"})
        + "\n",
    )
    result = run(db_url, "import", "events", bad)
    assert result.exit_code == 2, result.output
    assert result.stdout.splitlines()[-1].startswith("events: 1 accepted, 2 failed in ")
    errors = error_lines(result)
    assert errors[0].startswith("line 1: not valid JSON")
    assert errors[1] == "line 3: email: no lead with email 'nobody@example.com' in this project"
    assert scalar(db, sa.select(sa.func.count()).select_from(events)) == 3


def test_scoring_recompute_rescores_every_lead(db: Engine, db_url: str) -> None:
    from segmint.bootstrap import cli_project
    from segmint.engine import scoring
    from segmint.ingest import ingest_events, upsert_leads

    assert run(db_url, "init").exit_code == 0
    with db.begin() as conn:
        project = cli_project(conn, "default")
    upsert_leads(db, project, enumerate({"email": f"l{i}@x.test"} for i in range(3)))
    ingest_events(db, project, enumerate([{"email": "l0@x.test", "type": "demo"}] * 2))
    with db.begin() as conn:
        scoring.create_rule(conn, project, {"event_type": "demo", "points": 30})
    result = run(db_url, "scoring", "recompute")
    assert result.exit_code == 0, result.output
    assert "1 scores changed" in result.stdout  # one Hot; the others held Cold from the start
    assert "Hot: 1 leads" in result.stdout and "Cold: 2 leads" in result.stdout
    assert "3/3" in result.stderr  # the progress bar


def test_a_second_organization_does_not_stop_the_cli(
    db: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another organization with a `default` project of its own (as `segmint bench` makes):
    the CLI keeps acting on the first, and SEGMINT_ORGANIZATION picks the other."""
    from segmint.bootstrap import cli_project
    from segmint.projects import create_project

    monkeypatch.delenv("SEGMINT_ORGANIZATION", raising=False)
    assert run(db_url, "init", "--owner-email", "boss@acme.test").exit_code == 0
    with db.begin() as conn:
        globex = auth.create_organization(conn, "Globex")
        auth.create_user(conn, globex, "owner@globex.test", Role.OWNER)
        create_project(conn, globex, "default")
    created = run(db_url, "segments", "create", "Everyone", "--where", "status is not null")
    assert created.exit_code == 0, created.output
    listed = run(db_url, "segments", "list")
    assert listed.exit_code == 0, listed.output
    assert "Everyone" in listed.stdout and "boss@acme.test" in listed.stdout
    assert run(db_url, "users", "add", "ann@acme.test").exit_code == 0
    assert run(db_url, "scoring", "recompute").exit_code == 0
    assert run(db_url, "campaigns", "list").exit_code == 0

    monkeypatch.setenv("SEGMINT_ORGANIZATION", "Globex")
    other = run(db_url, "segments", "list")
    assert other.exit_code == 0, other.output
    assert "Everyone" not in other.stdout
    with db.connect() as conn:
        assert cli_project(conn, "default").organization_id == globex


def test_users_remove_can_give_their_leads_to_a_teammate(db: Engine, db_url: str) -> None:
    run(db_url, "init", "--owner-email", "boss@acme.test")
    run(db_url, "users", "add", "ann@acme.test")
    owned = [{"email": f"l{i}@x.test", "owner": "ann@acme.test"} for i in range(3)]
    with db.begin() as conn:
        project = bootstrap.cli_project(conn, "default")
    upsert_leads(db, project, enumerate(owned))

    refused = run(db_url, "users", "remove", "ann@acme.test", "--reassign-to", "who@acme.test")
    assert refused.exit_code == 1 and "--reassign-to" in refused.stderr, refused.output
    removed = run(db_url, "users", "remove", "ann@acme.test", "--reassign-to", "boss@acme.test")
    assert removed.exit_code == 0, removed.output
    assert "project default: 3 lead(s) to boss@acme.test" in removed.stdout
    Worker(db).drain()
    theirs = sa.select(sa.func.count()).where(leads.c.owner == "boss@acme.test")
    assert scalar(db, theirs) == 3
