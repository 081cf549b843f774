"""`segmint load`: a bounded load test of a real server (see bench/load.py)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from segmint.bench import data, load
from segmint.cli.bench import out
from segmint.cli.support import DatabaseUrl, err, friendly_errors
from segmint.store import migrate
from segmint.store.db import create_engine, database_url_from_env, normalise_url


def load_command(
    clients: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 50,
    seconds: Annotated[float, typer.Option(min=1, help="How long they keep asking.")] = 60.0,
    leads: Annotated[int, typer.Option(min=1, help="Leads to generate.")] = 20_000,
    events: Annotated[int, typer.Option(min=0, help="Events to generate.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data and mix.")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the bench project on 127.0.0.1 and run concurrent clients against it (counts,
    previews, member pages, lead and event writes) for a bounded time; exits 1 on any 5xx."""
    url = normalise_url(database_url or database_url_from_env()).render_as_string(
        hide_password=False
    )
    engine = create_engine(url, pool_size=4)
    try:
        with friendly_errors():
            migrate.upgrade(engine)
            err.print("preparing the bench project ...")
            workload = load.prepare(engine, data.BenchSize(leads, events, seed))
    finally:
        engine.dispose()
    log_path = Path(tempfile.gettempdir()) / "segmint-load-server.log"
    err.print(f"{clients} clients for {seconds:g} s (server log: {log_path}) ...")
    with load.served(url, log_path) as base_url:
        report = load.run_clients(base_url, workload, clients, seconds, seed)
    summary = report.summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        out.print(_table(summary))
    if report.failures:
        err.print(f"{report.failures} requests failed with a server error or no answer")
        raise typer.Exit(1)


def _table(summary: dict[str, Any]) -> Table:
    table = Table(
        title=f"segmint load: {summary['clients']} clients, {summary['seconds']} s, "
        f"{summary['requests']} requests, {summary['throughput_rps']} requests/s",
        caption="statuses: " + ", ".join(f"{k} x{v}" for k, v in summary["statuses"].items()),
    )
    for column in ("kind", "requests", "req/s", "p50 ms", "p95 ms", "max ms", "statuses"):
        table.add_column(column, justify="left" if column in ("kind", "statuses") else "right")
    for kind, stats in summary["kinds"].items():
        table.add_row(
            kind,
            str(stats["requests"]),
            f"{stats['rps']}",
            f"{stats['p50_ms']}",
            f"{stats['p95_ms']}",
            f"{stats['max_ms']}",
            ", ".join(f"{k} x{v}" for k, v in stats["statuses"].items()),
        )
    return table
