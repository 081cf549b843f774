"""`segmint campaigns ...`: list campaigns, run one now (with a progress bar), see its runs."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from segmint.bootstrap import cli_project
from segmint.campaigns import definitions, mail_settings, runs
from segmint.campaigns.audience import Catalog, problems, status
from segmint.campaigns.definitions import Targeting
from segmint.campaigns.sender import Sender
from segmint.cli.support import (
    DatabaseUrl,
    ProjectSlug,
    UserEmail,
    context,
    err,
    friendly_errors,
    one_shot_engine,
)
from segmint.clock import SYSTEM_CLOCK, as_utc

campaigns_app = typer.Typer(help="Campaigns: list, run now, runs.", no_args_is_help=True)
out = Console()
CampaignId = Annotated[int, typer.Argument(help="The campaign's id (see `campaigns list`).")]


@campaigns_app.command("list")
def list_command(project: ProjectSlug = "default", database_url: DatabaseUrl = None) -> None:
    """Every campaign with its status, schedule, next run and last run."""
    engine = one_shot_engine(database_url)
    with friendly_errors(), engine.connect() as conn:
        target = cli_project(conn, project)
        rows = definitions.all_campaigns(conn, target)
        last = runs.last_runs(conn, target, [r.id for r in rows])
        settings = mail_settings.load(conn, target)
        catalog = Catalog.load(conn, target)
        table = Table("id", "name", "status", "channel", "schedule", "next run", "last run")
        for row in rows:
            found = problems(catalog, Targeting.of(row), row.channel, settings, row.webhook_url)
            shown = status(row.state, found)
            if found:
                shown += f": {found[0].message}"
            table.add_row(
                str(row.id),
                row.name,
                shown,
                row.channel,
                _schedule(row),
                _when(row.next_run_at),
                _last(last.get(row.id)),
            )
    out.print(table)


@campaigns_app.command("run")
def run_command(
    campaign_id: CampaignId,
    project: ProjectSlug = "default",
    wait: Annotated[
        bool, typer.Option(help="Freeze and send here, with a progress bar; else the worker does.")
    ] = True,
    database_url: DatabaseUrl = None,
) -> None:
    """Run a campaign now: its audience is frozen as the run's recipients and sent."""
    engine = one_shot_engine(database_url)
    with friendly_errors():
        with engine.begin() as conn:
            target = cli_project(conn, project)
            run_id = runs.create_run(conn, target, campaign_id, SYSTEM_CLOCK.now())
        out.print(f"run {run_id} created")
        if not wait:
            return
        sender = Sender(engine, only_run=run_id)
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        with Progress(*columns, TimeRemainingColumn(), console=err) as bar:
            task = bar.add_task("sending", total=None)
            summary = _summary(engine, target, campaign_id, run_id)
            while summary["state"] in ("pending", "sending"):
                if not sender.run_once() and _waiting(summary):
                    break
                summary = _summary(engine, target, campaign_id, run_id)
                settled = summary["sent"] + summary["failed"] + summary["unconfirmed"]
                bar.update(task, completed=settled, total=summary["recipients"])
        sender.close()
    _print_summary(summary)
    if summary["state"] != "done":
        raise typer.Exit(1)


def _summary(engine: Any, project: Any, campaign_id: int, run_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return runs.get_run(conn, project, campaign_id, run_id)


def _waiting(summary: dict[str, Any]) -> bool:
    """Nothing could be done now: the channel is backing off, or retries are not yet due."""
    if summary["next_attempt_at"] is not None:
        return True
    time.sleep(0.2)  # another sender may hold the run for a moment
    return False


@campaigns_app.command("trigger")
def trigger_command(
    campaign_id: CampaignId,
    segment: Annotated[
        int | None, typer.Option(help="The active segment whose entries (or exits) send.")
    ] = None,
    on: Annotated[str, typer.Option(help="enter or exit")] = "enter",
    delay_minutes: Annotated[int, typer.Option(help="Wait this long after the change.")] = 0,
    only_if_still_member: Annotated[
        bool, typer.Option(help="When due, send only if the lead is still in (or still out).")
    ] = True,
    cap_max: Annotated[
        int | None, typer.Option(help="At most this many sends per lead ...")
    ] = None,
    cap_days: Annotated[int | None, typer.Option(help="... in this many days.")] = None,
    off: Annotated[bool, typer.Option("--off", help="Remove the trigger.")] = False,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Send a campaign to each lead entering (or leaving) a segment; the campaign must be
    scheduled for the trigger to fire."""
    trigger: dict[str, Any] | None = None
    if not off:
        trigger = {
            "on": on,
            "segment_id": segment,
            "delay_minutes": delay_minutes,
            "only_if_still_member": only_if_still_member,
        }
        if cap_max is not None or cap_days is not None:
            trigger["cap"] = {"max": cap_max, "per_days": cap_days}
    with friendly_errors():
        engine, target, principal = context(database_url, project, user)
        with engine.begin() as conn:
            definitions.update_campaign(
                conn, target, principal, campaign_id, {"trigger": trigger}, SYSTEM_CLOCK.now()
            )
            row = definitions.get_campaign(conn, target, campaign_id)
    out.print(
        f"campaign {campaign_id}: " + (_trigger(row.trigger) if row.trigger else "no trigger")
    )


@campaigns_app.command("runs")
def runs_command(
    campaign_id: CampaignId,
    project: ProjectSlug = "default",
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    database_url: DatabaseUrl = None,
) -> None:
    """A campaign's runs, newest first: audience, sent, skipped, failed."""
    engine = one_shot_engine(database_url)
    with friendly_errors(), engine.connect() as conn:
        target = cli_project(conn, project)
        definitions.get_campaign(conn, target, campaign_id)
        items = runs.runs_of(conn, target, campaign_id, None, limit)
    # A triggered run's own skips get columns only where there are triggered runs: the table
    # must stay readable in 80 columns.
    triggered = any(item["kind"] == "trigger" for item in items)
    counted = [
        ("audience", "audience"),
        ("sent", "sent"),
        ("already sent", "skipped_already_sent"),
        ("unsubscribed", "skipped_unsubscribed"),
        ("no email", "skipped_no_email"),
        *([("capped", "skipped_capped"), ("left", "skipped_membership")] if triggered else []),
        ("failed", "failed"),
        ("unconfirmed", "unconfirmed"),
        ("queued", "queued"),
    ]
    table = Table("run", "kind", "scheduled for", "state", *(title for title, _ in counted))
    for item in items:
        table.add_row(
            str(item["id"]),
            item["kind"],
            _when(item["scheduled_for"]),
            item["state"] + (f" ({item['error']})" if item["error"] else ""),
            *(_n(item[name]) for _, name in counted),
        )
    out.print(table)


def _print_summary(summary: dict[str, Any]) -> None:
    out.print(
        f"run {summary['id']}: {summary['state']}; audience {_n(summary['audience'])}, "
        f"sent {summary['sent']}, skipped as already sent {_n(summary['skipped_already_sent'])}, "
        f"unsubscribed {_n(summary['skipped_unsubscribed'])}, "
        f"no email {_n(summary['skipped_no_email'])}, failed {summary['failed']}, "
        f"unconfirmed {summary['unconfirmed']}, queued {summary['queued']}"
    )
    if summary["error"]:
        out.print(f"error: {summary['error']}")


def _schedule(row: Any) -> str:
    if row.trigger:
        return _trigger(row.trigger)
    if row.schedule == "cron":
        return f"cron {row.cron} ({row.timezone})"
    if row.schedule == "once":
        return f"once at {_when(row.send_at)}"
    return "manual"


def _trigger(trigger: dict[str, Any]) -> str:
    text = f"on {trigger['on']} of segment {trigger['segment_id']}"
    if trigger.get("delay_minutes"):
        text += f", after {trigger['delay_minutes']} min"
    if trigger.get("cap"):
        text += f", at most {trigger['cap']['max']} per {trigger['cap']['per_days']} days"
    return text


def _when(moment: datetime | None) -> str:
    return as_utc(moment).strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _last(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "-"
    return f"{summary['state']}: {summary['sent']}/{_n(summary['audience'])} sent"


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)
