"""The columns an export may hold: chosen by key in any order, each written alike by SQLite's
Python, PostgreSQL's COPY and the columnar index (the parity tests in tests/api hold the index
and SQL together; these hold the two databases to the same bytes)."""

from __future__ import annotations

import random
import struct
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.engine import export
from segmint.errors import InvalidInput
from segmint.projects import Project
from segmint.store.tables import leads

SCORES = [0.0, 12.5, 42.0, 0.1, 1 / 3, 1e14, 1e15, 123456789012345.6, 1e16, 1e-4, 1e-5, 2.5e-5]
# As PostgreSQL writes each (checked against it below): shortest digits, "0" not "0.0".
SCORE_TEXTS = [
    "0",
    "12.5",
    "42",
    "0.1",
    "0.3333333333333333",
    "100000000000000",
    "1e+15",
    "123456789012345.6",
    "1e+16",
    "0.0001",
    "1e-05",
    "2.5e-05",
]


def _insert(db: Engine, project: Project, rows: list[dict[str, object]]) -> None:
    start = datetime(2024, 3, 1, 9, 30, 15, 987654, tzinfo=UTC)
    with db.begin() as conn:
        for i, row in enumerate(rows):  # one by one: the rows set different columns
            conn.execute(
                leads.insert().values(
                    {
                        "project_id": project.id,
                        "email": f"l{i}@x.test",
                        "tags": [],
                        "custom": {},
                        "created_at": start.replace(day=1 + i % 28),
                        "updated_at": start,
                        **row,
                    }
                )
            )


def _export(db: Engine, project: Project, keys: str) -> str:
    where = leads.c.project_id == project.id
    return b"".join(export.stream_csv(db, where, export.chosen_columns(keys))).decode()


def test_the_default_is_the_reference_seven() -> None:
    assert [c.header for c in export.chosen_columns(None)] == [
        "Name",
        "Email",
        "Phone",
        "Company",
        "Job Title",
        "Source",
        "Status",
    ]
    assert export.chosen_columns(None) == export.DEFAULT_COLUMNS
    assert len({c.key for c in export.EXPORT_COLUMNS}) == len(export.EXPORT_COLUMNS)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("name,nope", "unknown column 'nope'; choose from name, email,"),
        ("name,,email", "unknown column ''"),
        ("email, name ,email", "column 'email' is chosen twice"),
        ("", "choose at least one column of name, email,"),
        (" ", "choose at least one column"),
    ],
)
def test_bad_choices_are_refused_naming_the_key(keys: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        export.chosen_columns(keys)
    assert refused.value.path == "columns"
    assert message in refused.value.message
    if "choose" in message:
        assert "profile_level" in refused.value.message  # every valid key is listed


def test_chosen_columns_come_in_their_order() -> None:
    chosen = export.chosen_columns(" tags,name , created_at")
    assert [c.key for c in chosen] == ["tags", "name", "created_at"]


def test_extra_columns_are_written_alike_by_both_databases(db: Engine, project: Project) -> None:
    _insert(
        db,
        project,
        [
            {
                "first_name": "Ada",
                "tags": ["=sum", "VIP", "a,b"],
                "owner": "owner@acme.test",
                "country": "Germany",
                "engagement_score": 12.5,
                "engagement_level": "Cold",
                "profile_level": "@Good Fit",
            },
            {"first_name": "Bob", "tags": ["solo"], "engagement_score": 42.0},
        ],
    )
    keys = "email,created_at,tags,owner,country,engagement_score,engagement_level,profile_level"
    assert _export(db, project, keys) == (
        "Email,Created,Tags,Owner,Country,Engagement Score,Engagement Level,Profile Level\n"
        'l0@x.test,2024-03-01T09:30:15Z,"\'=sum; VIP; a,b",owner@acme.test,Germany,12.5,Cold,'
        "'@Good Fit\n"
        "l1@x.test,2024-03-02T09:30:15Z,solo,,,42,,\n"
    )


def test_scores_are_written_as_postgresql_writes_them(db: Engine, project: Project) -> None:
    _insert(db, project, [{"engagement_score": score} for score in SCORES])
    written = _export(db, project, "engagement_score").splitlines()
    assert written == ["Engagement Score", *SCORE_TEXTS]


def test_python_writes_any_float_as_postgresql_does(db: Engine) -> None:
    """The SQLite path's `_number_text` against PostgreSQL's own text of the same doubles:
    random bit patterns (every magnitude) and random amounts of a few decimals."""
    if db.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's text of a double is what SQLite's export imitates")
    rng = random.Random(11)
    doubles = [struct.unpack("<d", rng.randbytes(8))[0] for _ in range(3000)]
    amounts = [round(rng.uniform(-1e6, 1e6), rng.randint(0, 4)) for _ in range(3000)]
    # Where Python's shortest digits sit on the edge of what reads back, PostgreSQL's do not.
    edges = [-5.7037124590350416e16, 5.9294970927495136e16, -1.0492757750985679e18]
    values = [*SCORES, -0.0, 5e-324, 1.7976931348623157e308, *edges, *doubles, *amounts]
    values += [float("nan"), float("inf"), float("-inf")]
    with db.connect() as conn:
        texts = conn.execute(
            sa.text("SELECT CAST(x AS text) FROM unnest(CAST(:xs AS float8[])) AS x"),
            {"xs": values},
        ).scalars()
        assert [export._number_text(v) for v in values] == list(texts)


def test_one_column_writes_the_end_of_data_marker_quoted(db: Engine, project: Project) -> None:
    r"""COPY quotes `\.` when it is a row's one field (alone on a line it ends the data)."""
    _insert(db, project, [{"company": "\\."}, {"company": "a\\."}, {"company": None}])
    assert _export(db, project, "company") == 'Company\n"\\."\na\\.\n\n'
    assert _export(db, project, "company,email").splitlines()[1] == "\\.,l0@x.test"
