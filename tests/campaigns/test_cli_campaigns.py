"""`segmint campaigns list|run|runs` against a real database and SMTP server."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from segmint.auth import Principal
from segmint.cli import app
from segmint.clock import FrozenClock
from segmint.projects import Project
from tests.campaigns.conftest import add_campaign, add_leads, add_segment, configure_mail
from tests.smtp import SmtpServer

runner = CliRunner()


def _run(db_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--database-url", db_url])
    return result.exit_code, result.stdout + result.stderr


def test_list_run_and_runs(
    db: Engine,
    db_url: str,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
    smtp: SmtpServer,
) -> None:
    configure_mail(db, project, smtp.port, clock)
    add_leads(db, project, clock, [{"email": f"c{i}@x.test", "status": "new"} for i in range(3)])
    segment = add_segment(
        db, project, owner, "New", {"field": "status", "op": "eq", "value": "new"}, clock
    )
    campaign = add_campaign(db, project, owner, clock, targeting={"include_segments": [segment]})

    code, out = _run(db_url, "campaigns", "list")
    assert code == 0, out
    assert "Welcome" in out and "draft" in out and "manual" in out

    code, out = _run(db_url, "campaigns", "run", str(campaign))
    assert code == 0, out
    assert "done; audience 3, sent 3, skipped as already sent 0" in out
    assert sorted(smtp.inbox.addresses()) == ["c0@x.test", "c1@x.test", "c2@x.test"]

    code, out = _run(db_url, "campaigns", "run", str(campaign))  # nobody new: sends nothing
    assert code == 0, out
    assert "audience 3, sent 0, skipped as already sent 3" in out
    assert len(smtp.inbox.messages) == 3

    code, out = _run(db_url, "campaigns", "runs", str(campaign))
    assert code == 0, out
    assert out.count("done") == 2

    add_leads(db, project, clock, [{"email": "late@x.test", "status": "new"}])
    smtp.stop()
    code, out = _run(db_url, "campaigns", "run", str(campaign))
    assert code == 1 and "cannot use SMTP server" in out and "queued 1" in out

    code, out = _run(db_url, "campaigns", "run", "999")
    assert code != 0 and "no campaign 999" in out


def test_trigger_sets_and_removes_a_campaigns_trigger(
    db: Engine,
    db_url: str,
    project: Project,
    owner: Principal,
    clock: FrozenClock,
) -> None:
    segment = add_segment(
        db, project, owner, "New", {"field": "status", "op": "eq", "value": "new"}, clock
    )
    campaign = add_campaign(db, project, owner, clock, targeting={"include_segments": [segment]})
    args = ["campaigns", "trigger", str(campaign), "--segment", str(segment)]
    code, out = _run(db_url, *args, "--delay-minutes", "30", "--cap-max", "1", "--cap-days", "7")
    assert code == 0, out
    assert f"on enter of segment {segment}, after 30 min, at most 1 per 7 days" in out
    code, out = _run(db_url, "campaigns", "list")
    assert code == 0 and "on enter" in out  # the table wraps the rest
    code, out = _run(db_url, *args, "--cap-max", "0", "--cap-days", "7")
    assert code != 0 and "trigger.cap.max" in out
    code, out = _run(db_url, "campaigns", "trigger", str(campaign), "--off")
    assert code == 0 and "no trigger" in out, out
