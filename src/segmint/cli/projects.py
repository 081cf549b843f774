"""`segmint projects ...`: the organization's projects (see bootstrap.cli_organization).

Whoever runs the CLI holds the database, so these act for the organization as its owners do
through the API, with the same rules: valid unique slugs, and only an empty project deleted.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from segmint import bootstrap
from segmint import projects as engine
from segmint.cli.support import DatabaseUrl, friendly_errors, one_shot_engine

projects_app = typer.Typer(help="Projects: list, create, rename, delete.", no_args_is_help=True)
out = Console()


@projects_app.command("list")
def list_command(database_url: DatabaseUrl = None) -> None:
    """The organization's projects: slug, name, time zone."""
    with friendly_errors(), one_shot_engine(database_url).connect() as conn:
        found = engine.list_projects(conn, bootstrap.cli_organization(conn))
    table = Table("slug", "name", "time zone")
    for project in found:
        table.add_row(project.slug, project.name, project.timezone)
    out.print(table)


@projects_app.command("create")
def create_command(
    slug: Annotated[str, typer.Argument(help="1-64 lower-case letters, digits and '-'.")],
    name: Annotated[str | None, typer.Option(help="Default: the slug.")] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone.")] = "UTC",
    database_url: DatabaseUrl = None,
) -> None:
    """Create an empty project; prints its slug as the last line."""
    with friendly_errors(), one_shot_engine(database_url).begin() as conn:
        created = engine.create_project(
            conn, bootstrap.cli_organization(conn), slug, name, timezone
        )
    typer.echo(f"Project {created.name!r} created.")
    typer.echo(created.slug)


@projects_app.command("rename")
def rename_command(
    slug: Annotated[str, typer.Argument(help="The project's current slug.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    new_slug: Annotated[str | None, typer.Option("--slug", help="A new slug.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Give a project a new name and/or slug."""
    if name is None and new_slug is None:
        raise typer.BadParameter("give --name and/or --slug")
    with friendly_errors(), one_shot_engine(database_url).begin() as conn:
        project = bootstrap.cli_project(conn, slug)
        renamed = engine.rename_project(conn, project, name, new_slug)
    typer.echo(f"Project renamed: {renamed.name!r} ({renamed.slug}).")


@projects_app.command("delete")
def delete_command(
    slug: Annotated[str, typer.Argument(help="The project's slug.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Delete an empty project (refused while it holds leads, segments, lists, ...)."""
    with friendly_errors(), one_shot_engine(database_url).begin() as conn:
        engine.delete_project(conn, bootstrap.cli_project(conn, slug))
    typer.echo(f"Project {slug!r} deleted.")
