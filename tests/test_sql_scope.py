"""The checker behind the suite-wide rule that product SQL on tenant tables names project_id
(tests/sql_scope.py): what it flags and what it lets through."""

from __future__ import annotations

import pytest

from tests import sql_scope


@pytest.mark.parametrize(
    ("statement", "caller", "flagged"),
    [
        ("SELECT leads.id FROM leads WHERE leads.email = ?", ("leads", "get"), True),
        ("UPDATE segments SET name=? WHERE segments.id = ?", ("segments", "rename"), True),
        ("SELECT leads.id FROM leads WHERE leads.project_id = ?", ("leads", "get"), False),
        ("SELECT projects.id FROM projects WHERE projects.slug = ?", ("projects", "get"), False),
        ("CREATE INDEX ix ON leads (email)", ("migrate", "upgrade"), False),
        ("SELECT count(*) FROM leads", None, False),  # a test's own helper query
        ("SELECT campaigns.id FROM campaigns", ("runs", "schedule_due"), False),  # allowed
    ],
)
def test_what_the_checker_flags(
    monkeypatch: pytest.MonkeyPatch,
    statement: str,
    caller: tuple[str, str] | None,
    flagged: bool,
) -> None:
    scope = sql_scope.Scope()
    monkeypatch.setattr(sql_scope, "_product_caller", lambda: caller)
    scope.check(statement)
    assert bool(scope.violations) is flagged
