"""Random split: a deterministic bucket 0-99 per lead, the one definition every backend shares.

bucket = the first 8 bytes of SHA-256 of "{salt}:{lead id}" (UTF-8), read big-endian unsigned,
mod 100. A hash of the id (not the id itself) so that consecutive leads spread evenly and a new
salt gives an independent split; SQLite connections get `bucket_of` registered as
`segmint_bucket`, PostgreSQL computes it with its own sha256 (filters/dialects.py) and the
columnar index computes it once per salt for every lead (index/answers.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

import numpy as np

BUCKETS: Final = 100


def bucket_of(salt: str, lead_id: int) -> int:
    """The lead's bucket (0-99) for a salt."""
    digest = hashlib.sha256(f"{salt}:{lead_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def buckets_of(salt: str, lead_ids: Iterable[int]) -> np.ndarray[tuple[int], np.dtype[np.uint8]]:
    """The buckets of many leads (one hash each: SHA-256 has no vector form in numpy)."""
    return np.fromiter((bucket_of(salt, int(i)) for i in lead_ids), np.uint8)
