"""The `segmint` command: a thin layer over the engine.

Results go to stdout (a token is always the last line); progress and row errors to stderr.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from sqlalchemy.engine import Engine

from segmint import auth, bootstrap, demo
from segmint.cli.bench import bench
from segmint.cli.campaigns import campaigns_app
from segmint.cli.leads import leads_app
from segmint.cli.load import load_command
from segmint.cli.portability import export_project_command, import_project_command
from segmint.cli.projects import projects_app
from segmint.cli.scoring import scoring_app
from segmint.cli.segments import segments_app
from segmint.cli.support import (
    DatabaseUrl,
    ProjectSlug,
    acting_user,
    err,
    friendly_errors,
    one_shot_engine,
    usable_password,
)
from segmint.clock import SYSTEM_CLOCK
from segmint.engine import handover
from segmint.errors import NotFound
from segmint.ingest import ImportReport, RowError, import_events_jsonl, import_leads_csv
from segmint.ingest.csv_rows import ENCODINGS
from segmint.ingest.csv_source import parse_map_options
from segmint.ingest.leads import ON_CONFLICT_CHOICES
from segmint.model import Role
from segmint.projects import Project, get_project
from segmint.store.db import create_engine, database_url_from_env
from segmint.store.rows import BulkActionRow
from segmint.store.tables import users
from segmint.worker import outbox

app = typer.Typer(help="Segmint: live lead segments.", no_args_is_help=True)
users_app = typer.Typer(help="Users and their API tokens.", no_args_is_help=True)
import_app = typer.Typer(help="Import leads (CSV) and events (JSONL).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(import_app, name="import")
app.add_typer(segments_app, name="segments")
app.add_typer(leads_app, name="leads")
app.add_typer(scoring_app, name="scoring")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(projects_app, name="projects")
app.command("export-project")(export_project_command)
app.command("import-project")(import_project_command)
app.command("bench")(bench)
app.command("load")(load_command)

MAX_PRINTED_ERRORS = 200  # beyond this, errors are counted in the summary only


def main() -> None:
    app()


def _engine(url: str | None, pooled: bool = False) -> Engine:
    """One-shot commands close each connection when done (no pool left open at exit)."""
    if pooled:
        return create_engine(url or database_url_from_env())
    return one_shot_engine(url)


@app.command()
def init(
    database_url: DatabaseUrl = None,
    owner_email: Annotated[str | None, typer.Option(help="Create this owner user.")] = None,
    owner_password: Annotated[str | None, typer.Option(help="The owner's password.")] = None,
) -> None:
    """Create or upgrade the schema, an organization, project `default` and an owner."""
    usable_password(owner_password, owner_email, "--owner-password")
    with friendly_errors():
        installed = bootstrap.init(_engine(database_url), owner_email, owner_password)
    typer.echo(f"ready: organization {installed.organization_id}, project {installed.project.slug}")
    if owner_email:
        typer.echo(f"owner: {owner_email}")


@users_app.command("add")
def users_add(
    email: str,
    role: Annotated[Role, typer.Option(help="owner, admin or member.")] = Role.MEMBER,
    project: Annotated[str | None, typer.Option(help="Limit the token to this project.")] = None,
    password: Annotated[str | None, typer.Option(help="Password for the web UI.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a user (or reuse an existing one) and print a new API token as the last line."""
    usable_password(password, email, "--password")
    engine = _engine(database_url)
    with friendly_errors(), engine.begin() as conn:
        organization_id = bootstrap.cli_organization(conn)
        project_id = get_project(conn, organization_id, project).id if project else None
        user_id, stored_role = _find_or_create_user(conn, organization_id, email, role, password)
        token = auth.issue_token(conn, user_id, name="cli", project_id=project_id)
    if stored_role != role:
        err.print(
            f"{email.strip().lower()} already exists as {stored_role.value}: role unchanged",
            markup=False,
            highlight=False,
        )
    typer.echo(f"user {email.strip().lower()} ({stored_role.value}); API token (shown once):")
    typer.echo(token)


@users_app.command("role")
def users_role(
    email: str,
    role: Annotated[Role, typer.Argument(help="owner, admin or member.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Give a user another role (the organization keeps at least one owner)."""
    engine = _engine(database_url)
    with friendly_errors(), engine.begin() as conn:
        auth.change_role(conn, None, _active_user_id(conn, email), role)
    typer.echo(f"user {email.strip().lower()} is now {role.value}")


@users_app.command("remove")
def users_remove(
    email: str,
    reassign_to: Annotated[
        str | None,
        typer.Option(
            "--reassign-to",
            help="A teammate's email: the leads this user owns, in every project, go to them.",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a user: no more log-ins, their tokens revoked and sessions ended (what they made
    stays; `users add` with the same email brings them back)."""
    engine = _engine(database_url)
    with friendly_errors(), engine.begin() as conn:
        operator = acting_user(conn, bootstrap.cli_organization(conn), None)
        removed = auth.remove_user(conn, None, _active_user_id(conn, email))
        handed: list[tuple[Project, BulkActionRow]] = []
        if reassign_to is not None:
            to = handover.receiver(
                conn, operator.organization_id, reassign_to, removed, "--reassign-to"
            )
            handed = handover.hand_over_leads(conn, operator, removed, to, SYSTEM_CLOCK.now())
    typer.echo(f"user {removed} removed")
    for project, action in handed:
        typer.echo(
            f"project {project.slug}: {action.total} lead(s) to {action.params['owner']} "
            f"(bulk action {action.id}, done by the worker)"
        )


def _active_user_id(conn: sa.Connection, email: str) -> int:
    found = conn.execute(
        sa.select(users.c.id).where(
            users.c.organization_id == bootstrap.cli_organization(conn),
            users.c.email == auth.normalise_user_email(email),
            auth.ACTIVE,
        )
    ).scalar()
    if found is None:
        raise NotFound(f"no user {email.strip().lower()} in this organization")
    return int(found)


def _find_or_create_user(
    conn: sa.Connection, organization_id: int, email: str, role: Role, password: str | None
) -> tuple[int, Role]:
    """The user's id and actual role: an existing user keeps the role they have (a removed one
    is added back with the role asked)."""
    row = conn.execute(
        sa.select(users.c.id, users.c.role).where(
            users.c.organization_id == organization_id,
            users.c.email == auth.normalise_user_email(email),
            auth.ACTIVE,
        )
    ).first()
    if row is None:
        return auth.create_user(conn, organization_id, email, role, password), role
    if password:
        auth.set_password(conn, row.id, password)
    return int(row.id), Role(row.role)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[
        bool, typer.Option(help="Also run the background worker in this process.")
    ] = True,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the API and the web UI (and, unless --no-worker, the background work)."""
    _serve(_engine(database_url, pooled=True), host, port, worker)


def _serve(engine: Engine, host: str, port: int, with_worker: bool = True) -> None:
    import logging

    import uvicorn

    from segmint.app import create_app
    from segmint.worker.loop import start_in_thread

    # Segmint's own messages (the index's build progress, the worker's warnings) beside
    # uvicorn's access log.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = start_in_thread(engine) if with_worker else None
    try:
        # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1; the app
        # believes it only from SEGMINT_TRUSTED_PROXIES (api/limits.py).
        uvicorn.run(create_app(engine), host=host, port=port, log_level="info", proxy_headers=False)
    finally:
        if stop is not None:
            stop.set()


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Process what is queued, then exit.")] = False,
    lease: Annotated[
        int,
        typer.Option(
            min=1,
            metavar="SECONDS",
            help="How long a claimed work item is this worker's: a killed worker's items are "
            "taken up again after it.",
        ),
    ] = int(outbox.LEASE.total_seconds()),
    batch: Annotated[
        int, typer.Option(min=1, help="Work items a claim takes at a time.")
    ] = outbox.BATCH,
    log_level: Annotated[
        LogLevel, typer.Option(help="debug logs every work item done.")
    ] = LogLevel.INFO,
    database_url: DatabaseUrl = None,
) -> None:
    """Do the background work: membership maintenance, time sweeps, webhook deliveries and
    campaign runs (several may run on PostgreSQL, one on SQLite)."""
    import logging

    from segmint.campaigns.sender import run_campaigns_due
    from segmint.worker.delivery import Deliverer
    from segmint.worker.lock import lock_sole_worker
    from segmint.worker.loop import Worker, main_loop

    logging.basicConfig(
        level=log_level.value.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    engine = _engine(database_url, pooled=True)
    the_worker = Worker(engine, batch=batch, lease=timedelta(seconds=lease))
    with friendly_errors():
        lock = lock_sole_worker(engine, the_worker.name)  # SQLite runs one worker
    with lock:
        try:
            if once:
                typer.echo(f"processed {the_worker.drain()} work items")
                swept = the_worker.sweep_time()
                typer.echo(f"time sweep: {swept.entered} entered, {swept.exited} exited")
                typer.echo(f"webhooks: {Deliverer(engine).drain()} changes delivered")
                typer.echo(f"campaigns: {run_campaigns_due(engine)} steps done")
            else:
                main_loop(the_worker)
        finally:
            engine.dispose()  # close the pool's connections, not leave them to the exit


def _progress(total: int, unit: str = "bytes") -> Progress:
    columns = [TextColumn("{task.description}"), BarColumn()]
    if unit == "bytes":
        columns += [DownloadColumn(), TransferSpeedColumn()]
    else:
        columns += [MofNCompleteColumn()]
    return Progress(*columns, TimeRemainingColumn(), console=err, transient=False)


def _error_printer() -> Callable[[RowError], None]:
    printed = 0

    def print_error(error: RowError) -> None:
        nonlocal printed
        printed += 1
        if printed <= MAX_PRINTED_ERRORS:
            # soft_wrap: one error per line whatever the width, so scripts can grep `line N:`.
            err.print(
                f"line {error.location}: {error.message}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )

    return print_error


def _load_project(engine: Engine, slug: str) -> Project:
    with engine.connect() as conn:
        return bootstrap.cli_project(conn, slug)


@import_app.command("leads")
def import_leads(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    project: ProjectSlug = "default",
    map: Annotated[
        list[str] | None,
        typer.Option("--map", help="COLUMN=field (custom.KEY, enrichment.PATH, - to ignore)."),
    ] = None,
    on_conflict: Annotated[
        str, typer.Option(help="What an existing email does: update or skip.")
    ] = "update",
    encoding: Annotated[
        str, typer.Option(help="utf-8 (a BOM is fine) or windows-1252 (Excel on Windows).")
    ] = "utf-8",
    database_url: DatabaseUrl = None,
) -> None:
    """Import leads from a CSV file; bad rows are reported by line and the good ones kept."""
    if on_conflict not in ON_CONFLICT_CHOICES:
        raise typer.BadParameter("use update or skip", param_hint="--on-conflict")
    if encoding not in ENCODINGS:
        raise typer.BadParameter(f"use {' or '.join(ENCODINGS)}", param_hint="--encoding")
    engine = _engine(database_url)
    started = time.monotonic()
    with friendly_errors():
        target = _load_project(engine, project)
        overrides = parse_map_options(map or [])
        with _progress(file.stat().st_size) as bar:
            task = bar.add_task(f"importing {file.name}", total=file.stat().st_size)
            report = import_leads_csv(
                engine,
                target,
                file,
                overrides,
                on_conflict,
                on_progress=lambda n: bar.advance(task, n),
                on_error=_error_printer(),
                encoding=encoding,
            )
    if report.ignored_columns:
        err.print(
            f"ignored columns: {', '.join(report.ignored_columns)}", markup=False, soft_wrap=True
        )
    for warning in report.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    c = report.counts
    typer.echo(
        f"leads: {c.created} created, {c.updated} updated, {c.skipped} skipped, "
        f"{report.failed} failed in {time.monotonic() - started:.1f}s"
    )
    _exit_on_failures(report)


@import_app.command("events")
def import_events(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    project: ProjectSlug = "default",
    database_url: DatabaseUrl = None,
) -> None:
    """Import events from JSON Lines: {"email"|"lead_id", "type", "occurred_at", "metadata"}."""
    engine = _engine(database_url)
    started = time.monotonic()
    with friendly_errors():
        target = _load_project(engine, project)
        with _progress(file.stat().st_size) as bar:
            task = bar.add_task(f"importing {file.name}", total=file.stat().st_size)
            report = import_events_jsonl(
                engine,
                target,
                file,
                on_progress=lambda n: bar.advance(task, n),
                on_error=_error_printer(),
            )
    typer.echo(
        f"events: {report.counts.accepted} accepted, {report.failed} failed "
        f"in {time.monotonic() - started:.1f}s"
    )
    _exit_on_failures(report)


def _exit_on_failures(report: ImportReport) -> None:
    """Exit status 2 when some rows failed: scripts notice, the good rows are still stored."""
    if report.failed:
        raise typer.Exit(2)


@app.command("demo")
def demo_command(
    leads: Annotated[int, typer.Option(help="How many leads to generate.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 42,
    reset: Annotated[bool, typer.Option(help="Replace existing demo data.")] = False,
    serve: Annotated[bool, typer.Option(help="Serve the UI and API afterwards.")] = True,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    database_url: DatabaseUrl = None,
) -> None:
    """Load realistic demo data, create example segments, then serve on :8000."""
    engine = _engine(database_url, pooled=True)
    with friendly_errors():
        installed = bootstrap.init(engine, DEMO_EMAIL, DEMO_PASSWORD, "Demo organization")
        project = installed.project
        if reset:
            demo.clear(engine, project)
        if demo.has_data(engine, project):
            err.print("demo data already present (use --reset to regenerate)")
        else:
            _generate_demo(engine, project, leads, seed)
        with engine.begin() as conn:
            token = auth.issue_token(conn, installed.owner_id or 0, name="demo")
    typer.echo(f"Open http://{host}:{port} and log in as {DEMO_EMAIL} / {DEMO_PASSWORD}")
    typer.echo(f"API: curl -H 'Authorization: Bearer {token}' http://{host}:{port}/api/v1/...")
    if serve:
        _serve(engine, host, port)


DEMO_EMAIL = "demo@segmint.local"
DEMO_PASSWORD = "segmint-demo"


def _generate_demo(engine: Engine, project: Project, leads: int, seed: int) -> None:
    started = time.monotonic()
    with _progress(leads, unit="leads") as bar:
        task = bar.add_task("generating demo leads", total=leads)
        lead_report, event_report = demo.generate(
            engine, project, leads, seed, on_progress=lambda n: bar.advance(task, n)
        )
    err.print(
        f"demo: {lead_report.counts.created} leads, {event_report.counts.accepted} events, "
        f"{len(demo.EXAMPLE_SEGMENTS)} example segments in {time.monotonic() - started:.1f}s"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
