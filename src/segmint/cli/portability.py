"""`segmint export-project` and `segmint import-project` (segmint/portability.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from segmint.bootstrap import cli_organization, cli_project
from segmint.cli.support import DatabaseUrl, ProjectSlug, err, friendly_errors, one_shot_engine
from segmint.portability import export_project, import_project

out = Console()


def export_project_command(
    project: ProjectSlug = "default",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The file to write (default: stdout).")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write a project (leads, events, segments, lists, history, scoring, campaigns) as NDJSON."""
    engine = one_shot_engine(database_url)
    with friendly_errors():
        with engine.connect() as conn:
            target = cli_project(conn, project)
        if output is None:
            written = export_project(engine, target, sys.stdout)
        else:
            with output.open("w", encoding="utf-8") as file:
                written = export_project(engine, target, file)
    summary = ", ".join(f"{count} {table}" for table, count in written.items() if count)
    err.print(f"exported project {project!r}: {summary or 'nothing'}")


def import_project_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="An export file.")],
    project: Annotated[
        str | None,
        typer.Option("--project", help="The new project's slug (default: the exported one)."),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a project from an export, in one transaction (ids are new, references kept)."""
    engine = one_shot_engine(database_url)
    with friendly_errors():
        with engine.connect() as conn:
            organization_id = cli_organization(conn)

        def progress(table: str, rows: int) -> None:
            err.print(f"  {table}: {rows}", highlight=False)

        with file.open(encoding="utf-8") as lines:
            created, counts = import_project(engine, organization_id, lines, project, progress)
    total = sum(counts.values())
    out.print(f"imported project {created.slug!r}: {total} rows")
