"""`segmint segments ...`: the segment engine from the command line.

The CLI acts as a user of the installation (`--user`, default: the organization's first owner),
so segments it creates have a creator like those made through the API.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from segmint.cli.support import (
    DatabaseUrl,
    ProjectSlug,
    UserEmail,
    context,
    err,
    friendly_errors,
)
from segmint.clock import SYSTEM_CLOCK
from segmint.engine import (
    account_segments,
    filtering,
    manual,
    score_trend,
    segment_tags,
    segment_versions,
)
from segmint.engine import leads as leads_engine
from segmint.engine import overlap as overlap_engine
from segmint.engine import segments as engine
from segmint.engine.export import COLUMNS_BY_KEY, chosen_columns, stream_csv
from segmint.errors import InvalidInput
from segmint.projects import Project

segments_app = typer.Typer(
    help="Segments: list, inspect, count, page, export, create, versions, refresh, delete, "
    "include, exclude.",
    no_args_is_help=True,
)
out = Console()


def _run(action: Callable[[], None]) -> None:
    with friendly_errors():
        action()


Tags = Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeat for several).")]


@segments_app.command("list")
def list_command(
    created_by: Annotated[
        str | None, typer.Option(help="Only those this user created: an email, or `me`.")
    ] = None,
    tag: Tags = None,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Every segment of the project with its live member count and tags (narrowed by creator
    and by tags: those carrying every --tag given)."""

    def action() -> None:
        db, target, principal = context(database_url, project, user)
        with db.begin() as conn:
            rows = engine.list_segments(
                conn, target, principal, engine.Scope(True), None, created_by, tag
            )
            counts = engine.member_counts(conn, target, rows, principal)
            tags = segment_tags.tags_of(conn, target, [row.id for row in rows])
        table = Table("id", "name", "members", "active", "created by", "tags")
        for row in rows:
            count = counts[row.id]
            table.add_row(
                str(row.id),
                row.name,
                "" if count is None else f"{count:,}",
                "yes" if row.active else "no",
                row.created_by_email or "",
                ", ".join(tags[row.id]),
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
        db, target, principal = context(database_url, project, user)
        with db.begin() as conn:
            row = engine.visible_segment(conn, target, principal, segment_id)
            total, at, _ = engine.count(conn, target, row)
        state = (
            "accounts, live"
            if account_segments.is_accounts(row)
            else ("active" if row.active else "inactive")
        )
        typer.echo(f"{row.name} (#{row.id}, version {row.version}, {state})")
        if row.description:
            typer.echo(row.description)
        tree = filtering.load(target, row.filter, row.audience)
        typer.echo(f"where: {filtering.to_text(tree)}")
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
        db, target, principal = context(database_url, project, user)
        with db.begin() as conn:
            row = engine.visible_segment(conn, target, principal, segment_id)
            total = engine.count(conn, target, row).total
        typer.echo(str(total))

    _run(action)


@segments_app.command("scores")
def scores_command(
    segment_id: int,
    at: Annotated[
        str | None,
        typer.Option(
            help="Compare the current members' average score at this date (or date-time, in the "
            "project's zone) with --after-days later; without it, the daily trend."
        ),
    ] = None,
    after_days: Annotated[int, typer.Option(help="Days after --at.")] = 7,
    days: Annotated[int, typer.Option(help="Days of the trend, today last.")] = 30,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Scores from the score history as JSON: the members' daily average as it was then, or
    the average before and after a date (`--at 2026-11-01 --after-days 7`)."""

    def action() -> None:
        db, target, principal = context(database_url, project, user)
        now = SYSTEM_CLOCK.now()
        with db.connect() as conn:
            engine.visible_segment(conn, target, principal, segment_id)
            if at is None:
                found: object = [
                    asdict(d) for d in score_trend.score_trend(conn, target, segment_id, now, days)
                ]
            else:
                moment = score_trend.parse_moment(at, target.zone, "--at")
                found = asdict(
                    score_trend.before_after(conn, target, segment_id, moment, after_days, now)
                )
        typer.echo(json.dumps(found, default=str, indent=2))

    _run(action)


@segments_app.command("members")
def members_command(
    segment_id: int,
    page: Annotated[int, typer.Option(min=1)] = 1,
    per_page: Annotated[int, typer.Option(min=1, max=500)] = 50,
    sort: Annotated[str, typer.Option(help="A field, - for descending.")] = "-created_at",
    q: Annotated[str | None, typer.Option(help="Search name, email, company.")] = None,
    after: Annotated[
        int | None,
        typer.Option(min=1, help="Account segments: the accounts after this id (keyset)."),
    ] = None,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """One page of current members (of an account segment: accounts, by id after --after)."""

    def action() -> None:
        db, target, principal = context(database_url, project, user)
        with db.begin() as conn:
            row = engine.visible_segment(conn, target, principal, segment_id)
            if account_segments.is_accounts(row):
                members = account_segments.of_segment(conn, target, row, SYSTEM_CLOCK.now())
                found = account_segments.page(conn, target, members, after, per_page)
                _print_accounts(found)
                return
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


def _print_accounts(found: account_segments.AccountPage) -> None:
    more = f"next: --after {found.next_after}" if found.next_after else "last page"
    table = Table("id", "name", "domain", "engagement", "profile", "leads", title=more)
    for account in found.items:
        table.add_row(
            *(
                str(account[k] if account[k] is not None else "")
                for k in ("id", "name", "domain", "engagement_level", "profile_level", "lead_count")
            )
        )
    out.print(table)


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
        db, target, principal = context(database_url, project, user)
        with db.begin() as conn:
            row = engine.visible_segment(conn, target, principal, segment_id)
            total = engine.count(conn, target, row).total
            if account_segments.is_accounts(row):
                found = account_segments.of_segment(conn, target, row, SYSTEM_CLOCK.now())
                chunks = account_segments.export_csv(db, found, target)
            else:
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
    where: Annotated[str | None, typer.Option("--where", help="Filter in the text syntax.")] = None,
    filter_json: Annotated[
        str | None,
        typer.Option("--filter", help="Filter as JSON."),
    ] = None,
    audience: Annotated[
        str, typer.Option(help="leads, or accounts: a segment whose members are accounts.")
    ] = "leads",
    description: Annotated[str, typer.Option()] = "",
    color: Annotated[str | None, typer.Option(help="#rrggbb")] = None,
    active: Annotated[bool, typer.Option(help="Keep membership history.")] = True,
    tag: Tags = None,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a segment from the text syntax; prints its id and live count."""

    def action() -> None:
        if (where is None) == (filter_json is None):
            raise InvalidInput("give exactly one of --where and --filter", "filter")
        db, target, principal = context(database_url, project, user)
        with db.begin() as conn:
            if filter_json is not None:
                try:
                    stored = json.loads(filter_json)
                except json.JSONDecodeError as exc:
                    raise InvalidInput(f"not valid JSON ({exc.msg})", "filter") from None
            else:
                tree = filtering.parse_text(
                    conn, target, where or "", reader=principal, audience=audience
                )
                stored = filtering.to_json(tree)
            data = {
                "name": name,
                "description": description,
                "color": color,
                "filter": stored,
                "active": active,
                "tags": tag or [],
                "audience": audience,
            }
            row = engine.create_segment(conn, target, principal, data)
            total = engine.count(conn, target, row).total
        typer.echo(f"Segment created successfully with {total} members")
        typer.echo(str(row.id))

    _run(action)


@segments_app.command("versions")
def versions_command(
    segment_id: int,
    limit: Annotated[int, typer.Option(min=1, max=segment_versions.MAX_LIMIT)] = 20,
    before: Annotated[
        int | None, typer.Option(min=1, help="Only versions older than this number.")
    ] = None,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """A segment's saved versions, newest first: who saved each, when, its name and filter in
    the text syntax, tab-separated."""

    def action() -> None:
        db, target, principal = context(database_url, project, user)
        with db.begin() as conn:
            row = engine.visible_segment(conn, target, principal, segment_id)
            found = segment_versions.list_versions(conn, target, segment_id, before, limit)
        # One tab-separated line per version (a filter is too long for a table's column).
        typer.echo("version\tsaved at\tsaved by\tname\twhere\trestores")
        for version in found:
            fields = (
                str(version.number),
                version.saved_at.isoformat(timespec="seconds"),
                version.saved_by or "",
                version.name,
                _where(target, version.filter, row.audience),
                str(version.restored_from or ""),
            )
            typer.echo("\t".join(fields))

    _run(action)


def _where(project: Project, stored: object, audience: str) -> str:
    """A saved filter in the text syntax; an old one may no longer load (a field deleted)."""
    try:
        return filtering.to_text(filtering.load(project, stored, audience))
    except InvalidInput as error:
        return f"(no longer valid: {error})"


@segments_app.command("restore")
def restore_command(
    segment_id: int,
    version: int,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Save an earlier version's name, description and filter as the segment's newest version."""

    def action() -> None:
        db, target, principal = context(database_url, project, user)
        with db.begin() as conn:
            before = segment_versions.latest_number(conn, target, segment_id)
            row = engine.restore_version(conn, target, principal, segment_id, version)
            after = segment_versions.latest_number(conn, target, segment_id)
            total = engine.count(conn, target, row).total
        if after == before:
            typer.echo(f"Segment {segment_id} already matches version {version}: nothing saved")
        else:
            typer.echo(
                f"Restored version {version} of segment {segment_id} as version {after} "
                f"({total} members)"
            )

    _run(action)


@segments_app.command("refresh")
def refresh_command(
    segment_id: int,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Recompute an inactive segment's frozen members once (it stays inactive): prints how many
    entered and left; its history and webhooks record them."""

    def action() -> None:
        db, target, principal = context(database_url, project, user)
        with db.begin() as conn:
            done = engine.refresh_segment(conn, target, principal, segment_id)
        typer.echo(
            f"Segment refreshed: {done.entered} entered, {done.exited} left, "
            f"{done.member_count} members"
        )

    _run(action)


@segments_app.command("delete")
def delete_command(
    segment_id: int,
    campaigns: Annotated[
        str | None,
        typer.Option(
            help="Campaigns using it: 'detach' removes it from their audiences, 'keep' leaves "
            "them showing it as deleted (an error until edited)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Delete even if segments, lists or campaigns use it.")
    ] = False,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete a segment (never its leads); refused while something uses it unless told what to
    do with its campaigns (--campaigns) or --force."""

    def action() -> None:
        db, target, principal = context(database_url, project, user)
        with db.begin() as conn:
            detached = engine.delete_segment(conn, target, principal, segment_id, force, campaigns)
        typer.echo(f"Segment {segment_id} deleted.")
        for campaign in detached:
            typer.echo(f"Removed from campaign {campaign.name!r} (#{campaign.id}).")

    _run(action)


Emails = Annotated[list[str], typer.Argument(help="Emails of leads of the project.")]
Remove = Annotated[bool, typer.Option("--remove", help="Take the leads off again instead.")]


def _manual(
    kind: str, segment_id: int, emails: list[str], remove: bool, slug: str, user: str | None,
    url: str | None,
) -> None:  # fmt: skip
    def action() -> None:
        db, target, principal = context(url, slug, user)
        with db.begin() as conn:
            ids = manual.lead_ids_by_email(conn, target, emails)
            change = manual.remove if remove else manual.add
            done = change(conn, target, principal, segment_id, kind, ids)
        verb = (
            f"{kind} removed" if remove else ("included" if kind == manual.INCLUDE else "excluded")
        )
        typer.echo(
            f"{done.changed} {verb}; the segment includes {done.included} "
            f"and excludes {done.excluded} leads by hand"
        )

    _run(action)


@segments_app.command("include")
def include_command(
    segment_id: int,
    emails: Emails,
    remove: Remove = False,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Include leads in the segment by hand, whatever its filter says (--remove: stop)."""
    _manual(manual.INCLUDE, segment_id, emails, remove, project, user, database_url)


@segments_app.command("exclude")
def exclude_command(
    segment_id: int,
    emails: Emails,
    remove: Remove = False,
    project: ProjectSlug = "default",
    user: UserEmail = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Exclude leads from the segment by hand, whatever its filter says (--remove: stop)."""
    _manual(manual.EXCLUDE, segment_id, emails, remove, project, user, database_url)


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
        db, target, principal = context(database_url, project, user)
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
