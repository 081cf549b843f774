"""Text folding in SQL agrees with Python's fold() on the characters docs/filters.md promises."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from segmint.filters.dialects import PY_WHITESPACE, dialect_for
from segmint.folding import fold

KNOWN_DIFFERENT = set("İǰΐΰͺ")
RANGES = [(0xC0, 0x250), (0x370, 0x400), (0x400, 0x530), (0x531, 0x590)]
SAMPLES = [
    "  École ",
    "STRASSE",
    "Straße",
    "ΣΊΣΥΦΟΣ",
    "ﬁne",
    "Ｆｕｌｌ",
    PY_WHITESPACE + "x" + PY_WHITESPACE,
    PY_WHITESPACE,
    "",
]


def _characters() -> list[str]:
    chars = [chr(i) for lo, hi in RANGES for i in range(lo, hi) if chr(i).isprintable()]
    return [c for c in chars if c not in KNOWN_DIFFERENT] + SAMPLES


def test_sql_fold_agrees_with_python(db: Engine) -> None:
    texts = _characters()
    dialect = dialect_for(db.dialect.name)
    with db.connect() as conn:
        folded: list[str] = []
        for start in range(0, len(texts), 200):
            chunk = texts[start : start + 200]
            folded += conn.execute(sa.select(*(dialect.fold(sa.literal(t)) for t in chunk))).one()
    mismatches = [(t, fold(t), got) for t, got in zip(texts, folded, strict=True) if fold(t) != got]
    assert not mismatches
