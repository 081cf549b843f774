"""What every CLI command shares: option types and turning engine errors into messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from sqlalchemy.engine import Engine

from segmint.errors import InvalidInput, SegmintError
from segmint.passwords import check_password
from segmint.store.db import create_engine, database_url_from_env

err = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL [env: SEGMINT_DATABASE_URL]"),
]
ProjectSlug = Annotated[str, typer.Option("--project", help="Project slug.")]


def one_shot_engine(url: str | None) -> Engine:
    """For commands that run and exit: each connection closes when done (no pool left open)."""
    return create_engine(url or database_url_from_env(), poolclass=sa.NullPool)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Engine errors become one clear line and exit status 1, not a traceback."""
    try:
        yield
    except SegmintError as exc:
        # The message may quote user input ("[vip]"): printed as text, never as Rich markup.
        err.print("error: ", style="red", end="", highlight=False)
        err.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def usable_password(password: str | None, email: str | None, option: str) -> None:
    """A weak password given as an option is a usage error (exit 2), before anything is written."""
    if password is None:
        return
    try:
        check_password(password, email)
    except InvalidInput as exc:
        err.print(f"error: {option}: {exc.message}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
