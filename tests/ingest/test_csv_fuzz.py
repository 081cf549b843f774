"""CSV import fuzzing on both databases: files with broken quotes, stray bytes of other
encodings, a BOM and very long lines import what is well-formed, report the rest by line, and
never write half a row or crash."""

from __future__ import annotations

import itertools
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from segmint.errors import InvalidInput
from segmint.ingest import import_leads_csv
from segmint.projects import Project
from segmint.store.tables import leads

_files = itertools.count()
# Pieces a cell is made of: plain text, what breaks CSV (quotes, separators, line ends), bytes
# that are not UTF-8 (Latin-1, Windows-1252, a lone continuation byte) and a BOM mid-file.
PIECES = st.sampled_from(
    [b"ann", b"Acme", b" ", b'"', b'""', b",", b"\n", b"\r\n", b"\xe9", b"\x93", b"\x80",
     b"\xef\xbb\xbf", "Zoë".encode(), b"x" * 50]
)  # fmt: skip
CELL = st.lists(PIECES, max_size=4).map(b"".join)
ROW = st.tuples(st.integers(0, 10_000), CELL, CELL)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=st.lists(ROW, max_size=8), bom=st.booleans())
def test_any_file_imports_its_good_rows_and_reports_the_rest(
    db: Engine, project: Project, tmp_path: Path, rows: list[tuple[int, bytes, bytes]], bom: bool
) -> None:
    lines = [b"email,first_name,company"]
    lines += [b"lead%d@x.test,%s,%s" % (n, first, company) for n, first, company in rows]
    content = (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(lines) + b"\n"
    path = tmp_path / f"fuzz{next(_files)}.csv"
    path.write_bytes(content)
    before = _count(db, project)
    try:
        report = import_leads_csv(db, project, path)
    except InvalidInput:  # a file it cannot read at all: nothing written
        assert _count(db, project) == before
        return
    for error in report.errors:
        assert error.location >= 2 and error.message
    with db.connect() as conn:
        stored = conn.execute(
            sa.select(leads.c.email).where(leads.c.project_id == project.id)
        ).scalars()
        emails = set(stored)
    # A line broken by a stray quote or line end becomes rows of its own (maybe a lead with no
    # email, which is allowed) or errors; no address is ever made of pieces of two.
    assert all(email is None or email.endswith("@x.test") for email in emails)


def test_a_ten_megabyte_line_is_one_error_and_the_rest_imports(
    db: Engine, project: Project, tmp_path: Path
) -> None:
    long_cell = b"y" * (10 * 1024 * 1024)
    content = b"email,company\na@x.test,A\nb@x.test," + long_cell + b"\nc@x.test,C\n"
    path = tmp_path / "long.csv"
    path.write_bytes(content)
    report = import_leads_csv(db, project, path)
    assert [error.location for error in report.errors] == [3]
    with db.connect() as conn:
        emails = set(
            conn.execute(sa.select(leads.c.email).where(leads.c.project_id == project.id)).scalars()
        )
    assert emails == {"a@x.test", "c@x.test"}


def _count(db: Engine, project: Project) -> int:
    with db.connect() as conn:
        query = (
            sa.select(sa.func.count()).select_from(leads).where(leads.c.project_id == project.id)
        )
        return int(conn.execute(query).scalar_one())
