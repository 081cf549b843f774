"""Overlap of two to four audiences (segments and lists, mixed): how many leads fall in each
exact region of their Venn diagram ("in A and B, not in C"), each set's size and each pair's
intersection.

A segment or list enters the comparison exactly as the filter language's `in_segment` /
`in_list` reads it, and each region is handed back as the filter that selects it, so the
Leads page shown for a region counts what the region counted (tests/api/test_overlap_api.py).
The index answers with one mask per audience and one `bincount` of their bit flags; SQL with
one statement summing the same bits per lead and counting the sums: never a query per region.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import numpy as np
import sqlalchemy as sa

from segmint.auth import Principal
from segmint.engine import answering, filtering
from segmint.engine import lists as lists_engine
from segmint.engine import segments as segments_engine
from segmint.errors import InvalidInput
from segmint.filters import to_json
from segmint.filters.tree import And, ListRef, Node, Not, SegmentRef
from segmint.index import Audience, Reader
from segmint.projects import Project
from segmint.store.tables import leads

MIN_SETS: Final = 2
MAX_SETS: Final = 4
KEYS: Final = "ABCD"  # how sets are named in regions, in the order given (segments, then lists)

Kind = Literal["segment", "list"]


@dataclass(frozen=True)
class OverlapSet:
    """One audience compared: which, its name, and the condition that reads it."""

    key: str
    kind: Kind
    id: int
    name: str
    color: str | None
    active: bool  # lists are always "active": their members are what they are
    tree: Node

    def public(self, count: int) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "color": self.color,
            "active": self.active,
            "count": count,
            "filter": to_json(self.tree),
        }


@dataclass(frozen=True)
class Overlap:
    sets: list[dict[str, Any]]
    regions: list[dict[str, Any]]
    pairs: list[dict[str, Any]]
    union: int
    engine: str


def resolve(
    conn: sa.Connection,
    project: Project,
    principal: Principal,
    segment_ids: Sequence[int],
    list_ids: Sequence[int],
) -> list[OverlapSet]:
    """The audiences named, checked: 2 to 4 in all, none twice, each of this project (else 404)
    and, for a segment, one the caller may read (else 403, as its own page would answer)."""
    given = len(segment_ids) + len(list_ids)
    if not MIN_SETS <= given <= MAX_SETS:
        field = "lists" if list_ids and not segment_ids else "segments"
        raise InvalidInput(
            f"compare {MIN_SETS} to {MAX_SETS} audiences (segments and lists together), "
            f"not {given}",
            field,
        )
    _no_repeats(segment_ids, "segments")
    _no_repeats(list_ids, "lists")
    found: list[OverlapSet] = []
    for segment_id in segment_ids:
        row = segments_engine.visible_segment(conn, project, principal, segment_id)
        key = KEYS[len(found)]
        tree = SegmentRef(row.id)
        found.append(OverlapSet(key, "segment", row.id, row.name, row.color, row.active, tree))
    for list_id in list_ids:
        listed = lists_engine.get_list(conn, project, list_id)
        key = KEYS[len(found)]
        found.append(OverlapSet(key, "list", listed.id, listed.name, None, True, ListRef(list_id)))
    return found


def _no_repeats(ids: Sequence[int], field: str) -> None:
    seen: set[int] = set()
    for at, item in enumerate(ids):
        if item in seen:
            raise InvalidInput(f"{item} is given twice", f"{field}[{at}]")
        seen.add(item)


def overlap(
    conn: sa.Connection, project: Project, sets: Sequence[OverlapSet], now: datetime
) -> Overlap:
    """Every exact region's count (all 2^n - 1 of them, empty ones included), each set's size,
    each pair's intersection and the union, from the index when it can answer, else SQL."""
    by_flags, engine = _flag_counts(conn, project, sets, now)
    sizes = [s.public(_within(by_flags, 1 << bit)) for bit, s in enumerate(sets)]
    regions = [_region(sets, flags, by_flags) for flags in _region_order(len(sets))]
    pairs = [
        {
            "sets": [first.key, second.key],
            "count": _within(by_flags, (1 << i) | (1 << j)),
            "filter": to_json(And((first.tree, second.tree))),
        }
        for (i, first), (j, second) in itertools.combinations(enumerate(sets), 2)
    ]
    return Overlap(sizes, regions, pairs, sum(by_flags.values()), engine)


def _region(sets: Sequence[OverlapSet], flags: int, by_flags: dict[int, int]) -> dict[str, Any]:
    """The region of leads in exactly the sets whose bits `flags` holds, with its filter: in
    each of those, and NOT in each other."""
    inside = [s for bit, s in enumerate(sets) if flags >> bit & 1]
    outside = [s for bit, s in enumerate(sets) if not flags >> bit & 1]
    tree = And(tuple(s.tree for s in inside) + tuple(Not(s.tree) for s in outside))
    return {
        "sets": [s.key for s in inside],
        "count": by_flags.get(flags, 0),
        "filter": to_json(tree),
    }


def _region_order(size: int) -> list[int]:
    """Regions by how many sets they are in (one set only first), then in the sets' order."""
    flags = range(1, 1 << size)
    return sorted(flags, key=lambda f: (bin(f).count("1"), [-(f >> b & 1) for b in range(size)]))


def _within(by_flags: dict[int, int], wanted: int) -> int:
    """Leads in every set of `wanted` (whatever else they are in)."""
    return sum(count for flags, count in by_flags.items() if flags & wanted == wanted)


def _flag_counts(
    conn: sa.Connection, project: Project, sets: Sequence[OverlapSet], now: datetime
) -> tuple[dict[int, int], str]:
    """How many leads carry each combination of membership flags (bit i: in the i-th set),
    for the combinations some lead carries; the leads in no set are left out."""
    source = filtering.StoredSegments(conn, project.id)

    def work(reader: Reader) -> dict[int, int]:
        flags = np.zeros(reader.size(), np.uint8)
        for bit, member in enumerate(sets):  # a deleted lead's row is in no mask: flags 0
            mask = reader.select(Audience((member.tree,)), project, now, source)
            flags |= mask.astype(np.uint8) << np.uint8(bit)
        counted = np.bincount(flags, minlength=1 << len(sets))
        return {f: int(c) for f, c in enumerate(counted) if f and c}

    indexed = answering.through_index(conn, project, work)
    if indexed is not None:
        return indexed.value, answering.INDEX
    return _sql_flag_counts(conn, project, sets, now), answering.SQL


def _sql_flag_counts(
    conn: sa.Connection, project: Project, sets: Sequence[OverlapSet], now: datetime
) -> dict[int, int]:
    """One statement: the ids of each set's leads tagged with its bit (each branch the query a
    count of that set runs, the same condition a filter's `in_segment` / `in_list` compiles
    to, so it is planned as well as a count is), summed per lead, then counted per sum."""
    branches = [
        sa.select(leads.c.id.label("lead_id"), sa.literal(1 << bit).label("bit")).where(
            leads.c.project_id == project.id,
            filtering.condition(conn, project, member.tree, now),
        )
        for bit, member in enumerate(sets)
    ]
    tagged = sa.union_all(*branches).subquery()
    per_lead = (
        sa.select(sa.func.sum(tagged.c.bit).label("flags")).group_by(tagged.c.lead_id).subquery()
    )
    query = sa.select(per_lead.c.flags, sa.func.count()).group_by(per_lead.c.flags)
    return {int(f): int(c) for f, c in conn.execute(query)}
