"""A page of the index reads its sort order only as far as it needs: the same rows, in the same
order, as slicing the whole ordered audience."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from segmint.index.project import ProjectIndex, Reader

START = datetime(2026, 1, 1, tzinfo=UTC)


def _index(leads: int) -> ProjectIndex:
    index = ProjectIndex(1)
    rng = random.Random(7)
    index.leads.apply(
        [
            {
                "id": i + 1,
                "account_id": None,
                "email": f"lead{rng.randrange(leads)}@example.com",
                "created_at": START + timedelta(minutes=rng.randrange(1000)),
            }
            for i in range(leads)
        ]
    )
    return index


@pytest.mark.parametrize("density", [0.0, 0.001, 0.05, 0.5, 1.0])
def test_a_page_is_the_slice_of_the_whole_order(density: float) -> None:
    index = _index(5000)
    reader = Reader(index, None)  # type: ignore[arg-type]  # no reads from the database here
    rng = np.random.default_rng(3)
    mask = rng.random(5000) < density
    for key, descending in (("created_at", True), ("email", False)):
        whole = reader.ordered(mask, key, descending)
        for start in (0, 50, 1000, 4950, 6000):
            page = reader.page(mask, key, descending, start, start + 50)
            assert page.tolist() == whole[start : start + 50].tolist()


@pytest.mark.parametrize("density", [0.0, 0.001, 0.05, 0.06, 0.5, 1.0])
@pytest.mark.parametrize("descending", [False, True])
def test_a_small_selection_sorted_alone_is_in_the_kept_orders_order(
    density: float, descending: bool
) -> None:
    """Exports sort a small selection by itself (ties of created_at by id, as the kept order)."""
    index = _index(5000)
    index.leads.columns["created_at"].valid.live[::7] = False  # nulls go last
    reader = Reader(index, None)  # type: ignore[arg-type]  # no reads from the database here
    mask = np.random.default_rng(5).random(5000) < density
    order = index.order("created_at", descending)
    expected = order[mask[order]]
    assert reader.ordered(mask, "created_at", descending).tolist() == expected.tolist()
