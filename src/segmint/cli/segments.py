"""`segmint segments ...`: the segment engine from the command line.

The CLI acts as a user of the installation (`--user`, default: the organization's first owner),
so segments it creates have a creator like those made through the API.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from segmint import auth, bootstrap
from segmint.cli.support import DatabaseUrl, ProjectSlug, err, friendly_errors, one_shot_engine
from segmint.clock import SYSTEM_CLOCK
from segmint.engine import filtering
from segmint.engine import leads as leads_engine
from segmint.engine import overlap as overlap_engine
from segmint.engine import segments as engine
from segmint.engine.export import COLUMNS_BY_KEY, chosen_columns, stream_csv
from segmint.errors import InvalidInput
from segmint.model import Role
from segmint.projects import Project
from segmint.store.tables import users

segments_app = typer.Typer(
    help="Segments: list, inspect, count, page, export, create.", no_args_is_help=True
)
out = Console()

UserEmail = Annotated[
    str | None, typer.Option("--user", help="Act as this user (default: the first owner).")
]


def _context(
    url: str | None, slug: str, user_email: str | None
) -> tuple[Engine, Project, auth.Principal]:
    db = one_shot_engine(url)
    with db.connect() as conn:
        project = bootstrap.cli_project(conn, slug)
        principal = _principal(conn, project.organization_id, user_email)
    return db, project, principal


def _principal(conn: sa.Connection, organization_id: int, email: str | None) -> auth.Principal:
    query = sa.select(users).where(users.c.organization_id == organization_id)
    if email:
        query = query.where(users.c.email == email.strip().lower())
    else:
        query = query.where(users.c.id == auth.first_owner(conn, organization_id))
    row = conn.execute(query.limit(1)).first()
    if row is None:
        who = email or "an owner"
        raise InvalidInput(f"no user {who} (create one with `segmint init --owner-email`)")
    return auth.Principal(row.id, organization_id, row.email, Role(row.role), None)


def _run(action: Callable[[], None]) -> None:
    with friendly_errors():
        action()


@segments_app.command("list")
def list_command(
    project: ProjectSlug = "default", user: UserEmail = None, database_url: DatabaseUrl = None
) -> None:
    """Every segment of the project with its live member count."""

    def action() -> None:
        db, target, principal = _context(database_url, project, user)
        with db.begin() as conn:
            rows = engine.list_segments(conn, target, principal, engine.Scope(True), None)
            counts = engine.member_counts(conn, target, rows, principal)
        table = Table("id", "name", "members", "active", "created by")
        for row in rows:
            table.add_row(
                str(row.id),
                row.name,
                f"{counts[row.id]:,}",
                "yes" if row.active else "no",
                row.created_by_email or "",
            )
        out.print(table)

    _run(action)


@segments_app.command("show")
def show_command(
    segment_id: int,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """A segment's definition (in the text syntax) and live count."""

    def action() -> None:
        db, target, principal = _context(database_url, project, user)
        with db.begin() as conn:
            row = engine.visible_segment(conn, target, principal, segment_id)
            total, at, _ = engine.count(conn, target, row)
        typer.echo(
            f"{row.name} (#{row.id}, version {row.version}, "
            f"{'active' if row.active else 'inactive'})"
        )
        if row.description:
            typer.echo(row.description)
        typer.echo(f"where: {filtering.to_text(filtering.load(target, row.filter))}")
        typer.echo(f"members: {total} (evaluated {at.isoformat()})")

    _run(action)


@segments_app.command("count")
def count_command(
    segment_id: int,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The live member count, alone on stdout."""

    def action() -> None:
        db, target, principal = _context(database_url, project, user)
        with db.begin() as conn:
            row = engine.visible_segment(conn, target, principal, segment_id)
            total = engine.count(conn, target, row).total
        typer.echo(str(total))

    _run(action)


@segments_app.command("members")
def members_command(
    segment_id: int,
    page: Annotated[int, typer.Option(min=1)] = 1,
    per_page: Annotated[int, typer.Option(min=1, max=500)] = 50,
    sort: Annotated[str, typer.Option(help="A field, - for descending.")] = "-created_at",
    q: Annotated[str | None, typer.Option(help="Search name, email, company.")] = None,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """One page of current members."""

    def action() -> None:
        db, target, principal = _context(database_url, project, user)
        with db.begin() as conn:
            row = engine.visible_segment(conn, target, principal, segment_id)
            result = engine.members(
                conn, target, row, leads_engine.parse_sort(sort), page, per_page, q
            )
        table = Table(
            "id",
            "name",
            "email",
            "company",
            "job title",
            "status",
            "source",
            title=f"page {page} of {max(1, -(-result.total // per_page))}, {result.total} members",
        )
        for lead in result.items:
            table.add_row(
                *(
                    str(lead[k] or "")
                    for k in ("id", "name", "email", "company", "job_title", "status", "source")
                )
            )
        out.print(table)

    _run(action)


@segments_app.command("export")
def export_command(
    segment_id: int,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default stdout).")
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Column keys separated by commas, in the order wanted, of: "
            f"{', '.join(COLUMNS_BY_KEY)} (default: the first seven).",
        ),
    ] = None,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Every current member as CSV (Name,Email,Phone,Company,Job Title,Source,Status unless
    --columns chooses)."""

    def action() -> None:
        chosen = chosen_columns(columns)  # a bad key is refused before the database is read
        db, target, principal = _context(database_url, project, user)
        with db.begin() as conn:
            row = engine.visible_segment(conn, target, principal, segment_id)
            total = engine.count(conn, target, row).total
            where = engine.segment_condition(conn, target, row, SYSTEM_CLOCK.now())
        chunks = stream_csv(db, leads_engine.in_project(target, where), chosen)
        if output is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            return
        with output.open("wb") as file:
            for chunk in chunks:
                file.write(chunk)
        err.print(f"Exported {total} members to {output}.")

    _run(action)


@segments_app.command("create")
def create_command(
    name: str,
    where: Annotated[str, typer.Option("--where", help="Filter in the text syntax.")],
    description: Annotated[str, typer.Option()] = "",
    color: Annotated[str | None, typer.Option(help="#rrggbb")] = None,
    active: Annotated[bool, typer.Option(help="Keep membership history.")] = True,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a segment from the text syntax; prints its id and live count."""

    def action() -> None:
        db, target, principal = _context(database_url, project, user)
        with db.begin() as conn:
            tree = filtering.parse_text(conn, target, where, reader=principal)
            data = {
                "name": name,
                "description": description,
                "color": color,
                "filter": filtering.to_json(tree),
                "active": active,
            }
            row = engine.create_segment(conn, target, principal, data)
            total = engine.count(conn, target, row).total
        typer.echo(f"Segment created successfully with {total} members")
        typer.echo(str(row.id))

    _run(action)


def _audience_ref(text: str, at: int) -> tuple[str, int]:
    """`12` or `segment:12` -> a segment, `list:3` -> a list."""
    kind, _, number = text.rpartition(":")
    kind = kind.strip().lower() or "segment"
    if kind not in ("segment", "list") or not number.strip().isdigit():
        raise InvalidInput(
            f"{text!r} is not a segment id, segment:ID or list:ID", f"audiences[{at}]"
        )
    return kind, int(number)


@segments_app.command("overlap")
def overlap_command(
    audiences: Annotated[
        list[str], typer.Argument(help="2 to 4 of: a segment id, segment:ID or list:ID.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """How many leads fall in each region where 2 to 4 segments and lists overlap."""

    def action() -> None:
        refs = [_audience_ref(text, at) for at, text in enumerate(audiences)]
        segment_ids = [number for kind, number in refs if kind == "segment"]
        list_ids = [number for kind, number in refs if kind == "list"]
        db, target, principal = _context(database_url, project, user)
        with db.begin() as conn:
            sets = overlap_engine.resolve(conn, target, principal, segment_ids, list_ids)
            result = overlap_engine.overlap(conn, target, sets, SYSTEM_CLOCK.now())
        if as_json:
            answer = {k: getattr(result, k) for k in ("sets", "regions", "pairs", "union")}
            typer.echo(json.dumps(answer, indent=2))
            return
        for s in result.sets:
            typer.echo(f"{s['key']}  {s['kind']} {s['id']}: {s['name']} ({s['count']} leads)")
        typer.echo(f"in at least one: {result.union}")
        keys = [s["key"] for s in result.sets]
        for region in result.regions:
            outside = [k for k in keys if k not in region["sets"]]
            words = " and ".join(region["sets"]) + (f", not {' '.join(outside)}" if outside else "")
            typer.echo(f"{region['count']:>10}  {words}")

    _run(action)
