"""`segmint load` in small: a real server on 127.0.0.1 over each database, a few clients for a
few seconds, every kind of request answered and none with a server error. (Its numbers are
measured by running the command, never asserted here.)"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from segmint.bench import data, load
from segmint.store.db import create_engine


def test_a_short_load_gets_no_server_error(db_url: str, tmp_path: Path) -> None:
    engine = create_engine(db_url, poolclass=sa.NullPool)
    try:
        workload = load.prepare(engine, data.BenchSize(leads=300, events=1500, seed=7))
    finally:
        engine.dispose()
    assert workload.segment_ids and workload.lead_ids
    log = tmp_path / "server.log"
    with load.served(db_url, log) as base_url:
        report = load.run_clients(base_url, workload, clients=4, seconds=3, seed=7)
    summary = report.summary()
    assert report.failures == 0, (summary, log.read_text(encoding="utf-8")[-3000:])
    assert set(summary["kinds"]) == set(load.MIX), summary
    assert all(status.startswith("2") for status in summary["statuses"]), summary
