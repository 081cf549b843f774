"""Random split: every backend computes the contract's bucket, checked against values worked out
by hand from its definition (the first 8 bytes of SHA-256 of "{salt}:{lead id}", big-endian,
unsigned, mod 100)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.bucketing import bucket_of
from segmint.filters import parse_filter, to_json
from segmint.filters.dialects import dialect_for
from segmint.projects import Project
from tests.filters.harness import LeadSpec, insert_leads, matches
from tests.filters.strategies import NOW

# sha256(":1") starts 88 2e 0d ab c1 1b 4d 21; sha256("exp:42") 78 b4 84 02 c3 6f 49;
# sha256("é:7") (é as the two UTF-8 bytes c3 a9) 22 eb 52 97 06 29 07 75.
HAND_COMPUTED = [
    ("", 1, 0x882E0DABC11B4D21 % 100),
    ("exp", 42, 0x78B48402C43F6F49 % 100),
    ("é", 7, 0x22EB529706290775 % 100),
]


def test_bucket_of_follows_the_definition() -> None:
    assert [bucket_of(salt, lead_id) for salt, lead_id, _ in HAND_COMPUTED] == [
        expected for _, _, expected in HAND_COMPUTED
    ]
    assert [expected for _, _, expected in HAND_COMPUTED] == [81, 17, 93]
    # the top bit set: read unsigned, where a signed 64-bit number would be negative
    assert 0x882E0DABC11B4D21 >= 2**63


def test_sql_computes_the_same_bucket(db: Engine) -> None:
    """Both databases' SQL form (SQLite's registered function, PostgreSQL's sha256) against
    Python's, for ids around the 32-bit boundaries the PostgreSQL form splits at."""
    dialect = dialect_for(db.dialect.name)
    ids = [1, 7, 42, 255, 2**31 - 1, 2**32, 2**53 + 1, 2**62]
    with db.connect() as conn:
        for salt in ["", "exp", "é", "a:b ", "🎲"]:
            for lead_id in ids:
                expr = dialect.bucket(salt, sa.literal(lead_id, sa.BigInteger))
                assert conn.execute(sa.select(expr)).scalar_one() == bucket_of(salt, lead_id)


def test_a_split_in_two_halves_covers_every_lead_once(db: Engine, project: Project) -> None:
    with db.begin() as conn:
        ids = insert_leads(conn, project.id, [LeadSpec({}) for _ in range(40)])
        halves = []
        for bounds in ([0, 50], [50, 100]):
            node = parse_filter({"bucket": bounds, "salt": "ab"}, project)
            sql, python = matches(conn, project, node, NOW, ids)
            assert sql == python
            halves.append(python)
        assert halves[0] | halves[1] == set(ids) and not halves[0] & halves[1]
        assert halves[0] == {i for i in ids if bucket_of("ab", i) < 50}


def test_bucket_json_is_canonical_and_errors_name_the_path(project: Project) -> None:
    assert to_json(parse_filter({"bucket": [0, 50], "salt": ""}, project)) == {"bucket": [0, 50]}
    assert to_json(parse_filter({"bucket": [10, 20], "salt": " A "}, project)) == {
        "bucket": [10, 20],
        "salt": " A ",
    }
    bad = [
        ({"and": [{"bucket": [50, 50]}]}, "filter.and[0].bucket", "low < high"),
        ({"bucket": [0, 101]}, "filter.bucket[1]", "from 0 to 100"),
        ({"bucket": [-1, 10]}, "filter.bucket[0]", "from 0 to 100"),
        ({"bucket": [0, 1.5]}, "filter.bucket[1]", "whole number"),
        ({"bucket": [0, True]}, "filter.bucket[1]", "whole number"),
        ({"bucket": 5}, "filter.bucket", "[low, high]"),
        ({"bucket": [0, 10], "salt": 3}, "filter.salt", "string"),
        ({"bucket": [0, 10], "seed": "x"}, "filter.seed", "unexpected key"),
        ({"event": "x", "where": {"bucket": [0, 1]}}, "filter.where", "not allowed"),
    ]
    for data, path, words in bad:
        try:
            parse_filter(data, project)
        except Exception as error:  # InvalidInput
            assert getattr(error, "path", None) == path, (data, error)
            assert words in str(error), (data, error)
        else:
            raise AssertionError(f"{data} was accepted")
