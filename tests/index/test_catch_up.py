"""The index's id map: stored ids to row numbers, whatever order ids come in."""

from __future__ import annotations

import random

from segmint.index.tables import NO_ROW, IdMap


def test_ids_map_to_their_rows_whatever_order_they_come_in() -> None:
    ids = IdMap()
    held: list[int] = []
    rng = random.Random(7)
    for size in (5, 1, 40, 3, 3, 200, 1, 7, 2, 30):
        if size % 2:  # past every id held, as new leads come
            batch = [max(held, default=0) + rng.randrange(1, 5) * (i + 1) for i in range(size)]
        else:  # anywhere, as a transaction that committed late brings them
            batch = [rng.randrange(1, 10_000) for _ in range(size)]
        batch = [i for i in dict.fromkeys(batch) if i not in set(held)]
        ids.append(batch)
        held.extend(batch)
        probe = [*held, 0, 10**9, *range(1, 50)]
        expected = [held.index(i) if i in held else NO_ROW for i in probe]
        assert ids.rows_of(probe).tolist() == expected
    assert ids.rows_of([]).tolist() == []
