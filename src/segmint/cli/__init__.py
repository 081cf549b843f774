"""The `segmint` command (Typer): one module per command group, each a thin layer over the
engine, campaigns, the worker and the app; `main.py` assembles them."""

from segmint.cli.main import app, main

__all__ = ["app", "main"]
