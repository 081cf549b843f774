"""`segmint scoring ...`: engagement scores from the command line."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from segmint.bootstrap import cli_project
from segmint.cli.support import DatabaseUrl, ProjectSlug, err, friendly_errors, one_shot_engine
from segmint.clock import SYSTEM_CLOCK
from segmint.engine import scoring

scoring_app = typer.Typer(help="Engagement scores: levels, recompute.", no_args_is_help=True)
out = Console()


@scoring_app.command("recompute")
def recompute(project: ProjectSlug = "default", database_url: DatabaseUrl = None) -> None:
    """Rescore every lead of the project now (the worker also does it after rule changes)."""
    engine = one_shot_engine(database_url)
    with friendly_errors():
        with engine.connect() as conn:
            target = cli_project(conn, project)
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        with Progress(*columns, TimeRemainingColumn(), console=err) as bar:
            task = bar.add_task("rescoring leads", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            changed = scoring.rescore_all(engine, target, SYSTEM_CLOCK.now(), advance)
        with engine.connect() as conn:
            held = scoring.held_levels(conn, target)
    out.print(f"{changed} scores changed")
    for band in held.counts:
        out.print(f"{band['name']}: {band['count']} leads (from {band['min']:g} points)")
