"""What every PostgreSQL session Segmint opens is told: JIT off, the URL's own options kept."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from segmint.store.db import create_engine


def _setting(url: str, name: str) -> str:
    engine = create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql(f"SHOW {name}").scalar())
    finally:
        engine.dispose()


def test_jit_is_off_and_the_urls_options_still_apply(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("JIT is PostgreSQL's")
    assert _setting(db_url, "jit") == "off"
    joiner = "&" if "?" in db_url else "?"
    given = f"{db_url}{joiner}options=-c%20application_name%3Dmine%20-c%20jit%3Don"
    assert _setting(given, "application_name") == "mine"
    assert _setting(given, "jit") == "on"  # the operator's word wins
