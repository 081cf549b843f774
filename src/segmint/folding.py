"""Text folding: how the filter language compares text (trimmed, NFKC, case-folded), the one
definition the evaluator, the SQL backends (SQLite gets it as `segmint_fold`), analytics and
the columnar index share."""

from __future__ import annotations

import unicodedata


def fold(value: object) -> str | None:
    """Case-fold text the way both databases must: Unicode-aware, trimmed.

    SQLite's lower() folds ASCII only, so SQLite connections get this function registered as
    `segmint_fold`, and filters compare folded text on both sides.
    """
    if value is None:
        return None
    return unicodedata.normalize("NFKC", str(value)).strip().casefold()
