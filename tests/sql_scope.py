"""Every SQL statement the product runs against a tenant table is scoped by project_id.

A listener on every engine sees each statement the suite executes. A statement that names a
tenant table, comes from Segmint's own code (not a test's helper query) and never mentions
`project_id` is recorded; the session fails if any was. This keeps the schema ready to be
distributed by project (Citus), where an unscoped query would have to visit every shard.

The few queries that scan across projects on purpose (the worker finding work: due time
sweeps, due score sweeps, due campaign runs, webhooks with changes waiting) are listed in
ALLOWED with the reason, so a new one is a decision, not an accident.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from segmint.store.tables import TENANT_TABLES

SRC = str(Path(__file__).resolve().parents[1] / "src" / "segmint")
TENANT = re.compile(r"\b(" + "|".join(t.name for t in TENANT_TABLES) + r")\b")
DML = re.compile(r"^\s*(WITH|SELECT|INSERT|UPDATE|DELETE|COPY|EXPLAIN)\b", re.IGNORECASE)
# (module, function): why it may read across projects.
ALLOWED = {
    ("worker", "sweep_time"): "the worker finds segments due a time sweep in every project",
    ("time_sweep", "due_segments"): "the worker finds segments due a time sweep",
    ("scoring", "due_projects"): "the worker finds projects whose scores decay or changed",
    ("delivery", "_claim"): "webhook delivery leases webhooks with changes waiting",
    ("sender", "_claim_run"): "campaign senders lease runs that are due",
    ("runs", "schedule_due"): "the scheduler finds campaigns whose moment has come",
    ("triggers", "_due_campaigns"): "the worker finds campaigns with triggered sends due",
    ("sender", "_claim"): "a claim names recipient rows by id within one project's run",
    ("loading", "_pg_event_arrays"): "the index's build asks the events table's size in "
    "blocks (no rows), then reads each slice of it for one project",
}


@dataclass
class Scope:
    violations: dict[tuple[str, str], str] = field(default_factory=dict)

    def check(self, statement: str) -> None:
        if not DML.match(statement) or not TENANT.search(statement):
            return
        if "project_id" in statement:
            return
        caller = _product_caller()
        if caller is None or caller in ALLOWED:
            return
        self.violations.setdefault(caller, " ".join(statement.split())[:300])


def _product_caller() -> tuple[str, str] | None:
    """The innermost frame in Segmint's source (None: the statement is a test's own, or a
    migration's, which changes the schema of every project at once)."""
    frame: Any = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if "/store/migrations/" in filename:
            return None
        if filename.startswith(SRC):
            return Path(filename).stem, frame.f_code.co_name
        frame = frame.f_back
    return None


SCOPE = Scope()


def _listen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
    SCOPE.check(statement)


def install() -> None:
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", _listen)


def report() -> str | None:
    if not SCOPE.violations:
        return None
    lines = [
        f"  {module}.{function}: {sql}" for (module, function), sql in SCOPE.violations.items()
    ]
    return "SQL against tenant tables without project_id:\n" + "\n".join(sorted(lines))
