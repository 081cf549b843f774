"""`segmint leads ...`: actions over many leads, from the command line.

A bulk action is recorded and done by the worker, as when asked through the API; the command
follows its progress (`--no-wait`: it only asks).
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import Engine

from segmint.cli.support import (
    DatabaseUrl,
    ProjectSlug,
    UserEmail,
    context,
    err,
    friendly_errors,
)
from segmint.clock import SYSTEM_CLOCK
from segmint.engine import bulk
from segmint.errors import InvalidInput
from segmint.projects import Project
from segmint.store.rows import BulkActionRow

leads_app = typer.Typer(help="Leads: actions over many at once.", no_args_is_help=True)
out = Console()

# What the one VALUE argument of each action is.
VALUE_PARAM = {
    "include_in_segment": "segment_id",
    "exclude_from_segment": "segment_id",
    "set_status": "status",
    "set_owner": "owner",
    "add_tags": "tags",
    "remove_tags": "tags",
    "add_to_list": "list_id",
    "remove_from_list": "list_id",
}
NOTICE_AFTER = 5.0  # seconds queued before saying that a worker must be running
POLL = 0.5


def _params(action: str, value: str | None) -> dict[str, Any]:
    name = VALUE_PARAM.get(action)
    if name is None:
        if value is not None:
            raise InvalidInput(f"{action.replace('_', '-')} takes no value", "VALUE")
        return {}
    if value is None:
        raise InvalidInput(f"give the {name.replace('_', ' ')} as VALUE", "VALUE")
    if name in ("list_id", "segment_id"):
        if not value.strip().isdigit():
            what = name.removesuffix("_id")
            raise InvalidInput(f"expected a {what} id, got {value!r}", "VALUE")
        return {name: int(value)}
    if name == "owner" and not value.strip():
        return {name: None}  # an empty owner clears it
    return {name: value}


def _selection(
    filter_json: str | None,
    q: str | None,
    segment: int | None,
    list_id: int | None,
    ids: str | None,
) -> dict[str, Any]:
    if ids is not None:
        try:
            return {"lead_ids": [int(part) for part in ids.split(",") if part.strip()]}
        except ValueError:
            raise InvalidInput("expected lead ids separated by commas", "--ids") from None
    selection: dict[str, Any] = {"q": q, "segment_id": segment, "list_id": list_id}
    if filter_json is not None:
        try:
            selection["filter"] = json.loads(filter_json)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"not valid JSON ({exc.msg})", "--filter") from None
    return {key: value for key, value in selection.items() if value is not None}


@leads_app.command("bulk")
def bulk_command(
    action: Annotated[
        str, typer.Argument(help="One of: " + ", ".join(a.replace("_", "-") for a in bulk.ACTIONS))
    ],
    value: Annotated[
        str | None,
        typer.Argument(
            help="The status, the owner's email (empty: none), tags separated by commas, or "
            "the list's or segment's id."
        ),
    ] = None,
    filter_json: Annotated[
        str | None, typer.Option("--filter", help="Leads matching this filter tree (JSON).")
    ] = None,
    q: Annotated[str | None, typer.Option("--q", help="Leads found by this search.")] = None,
    segment: Annotated[int | None, typer.Option("--segment", help="A segment's members.")] = None,
    list_id: Annotated[int | None, typer.Option("--list", help="A list's members.")] = None,
    ids: Annotated[str | None, typer.Option("--ids", help="Lead ids, separated by commas.")] = None,
    confirm: Annotated[
        int | None, typer.Option("--confirm", help="To delete: the number of leads selected.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow the progress until done.")] = True,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Do one action over many leads (every lead when nothing selects), in the background.

    Example: segmint leads bulk set-status contacted --filter '{"field": "status", "op": "eq",
    "value": "new"}'"""
    with friendly_errors():
        key = action.replace("-", "_")
        data = {
            "action": key,
            "params": _params(key, value),
            "selection": _selection(filter_json, q, segment, list_id, ids),
            "confirm": confirm,
        }
        db, target, principal = context(database_url, project, user)
        with db.begin() as conn:
            job = bulk.start(conn, target, principal, data, SYSTEM_CLOCK.now())
        err.print(f"Bulk action {job.id}: {bulk.ACTIONS[key].label.lower()}, {job.total} leads.")
        if not wait:
            typer.echo(str(job.id))
            return
        job = _follow(db, target, job)
        typer.echo(str(job.id))
        _report(job)


def _follow(db: Engine, project: Project, job: BulkActionRow) -> BulkActionRow:
    """Show the action's progress until it ends (Ctrl-C stops watching, not the action)."""
    started = time.monotonic()
    noticed = False
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=err) as progress:
        task = progress.add_task(job.action.replace("_", " "), total=job.total)
        while job.state in bulk.State.UNFINISHED:
            waited = time.monotonic() - started
            if job.state == bulk.State.QUEUED and not noticed and waited > NOTICE_AFTER:
                progress.console.print(
                    "Queued: a worker does it (`segmint worker` or `segmint serve`)."
                )
                noticed = True
            time.sleep(POLL)
            with db.connect() as conn:
                job = bulk.get(conn, project, job.id)
            progress.update(task, completed=job.processed)
        finished = job.total if job.state == bulk.State.DONE else job.processed
        progress.update(task, completed=finished)
    return job


def _report(job: BulkActionRow) -> None:
    if job.state == bulk.State.DONE:
        err.print(f"Done: {job.changed} of {job.processed} leads changed.")
        return
    err.print(f"{job.state.capitalize()} after {job.processed} leads: {job.error or ''}".strip())
    raise typer.Exit(1)


@leads_app.command("actions")
def actions_command(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The project's bulk actions: who asked for what, and how far each got."""
    with friendly_errors():
        db, target, _ = context(database_url, project, user)
        with db.connect() as conn:
            rows = bulk.recent(conn, target, None, limit)
        table = Table("id", "action", "state", "leads", "changed", "by", "at")
        for row in rows:
            table.add_row(
                str(row.id),
                row.action.replace("_", " "),
                row.state,
                f"{row.processed:,}/{row.total:,}",
                f"{row.changed:,}",
                row.created_by_email or "",
                row.created_at.isoformat(timespec="seconds"),
            )
        out.print(table)
