"""Tags on segments: free text that organises the segments list (any number per segment)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from segmint.errors import InvalidInput
from segmint.projects import Project
from segmint.storable import check_storable
from segmint.store.tables import segment_tags, segments

MAX_TAG_LENGTH = 50
MAX_TAGS = 20


def check_tags(data: Any) -> list[str]:
    """Tags from user input: trimmed, inner spaces collapsed, duplicates (ignoring case)
    dropped in order; each 1..50 characters, at most 20."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise InvalidInput("must be a list of tags", "tags")
    tags: list[str] = []
    for index, item in enumerate(data):
        path = f"tags[{index}]"
        if not isinstance(item, str) or not item.strip():
            raise InvalidInput("must be a non-empty text", path)
        tag = " ".join(item.split())
        if len(tag) > MAX_TAG_LENGTH:
            raise InvalidInput(f"must be at most {MAX_TAG_LENGTH} characters", path)
        check_storable(tag, path)
        if tag.casefold() not in {t.casefold() for t in tags}:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"a segment takes at most {MAX_TAGS} tags", "tags")
    return tags


def project_spellings(conn: sa.Connection, project: Project) -> dict[str, str]:
    """Each tag used in the project, by its case-folded form."""
    query = sa.select(segment_tags.c.tag).where(segment_tags.c.project_id == project.id).distinct()
    return {tag.casefold(): tag for tag in conn.execute(query).scalars()}


def tags_of(
    conn: sa.Connection, project: Project, segment_ids: Collection[int]
) -> dict[int, list[str]]:
    """The tags of these segments, alphabetically (ignoring case), in one query."""
    found: dict[int, list[str]] = {segment_id: [] for segment_id in segment_ids}
    if not found:
        return found
    query = sa.select(segment_tags.c.segment_id, segment_tags.c.tag).where(
        segment_tags.c.project_id == project.id,
        segment_tags.c.segment_id.in_(sorted(found)),
    )
    for row in conn.execute(query):
        found[row.segment_id].append(row.tag)
    for tags in found.values():
        tags.sort(key=str.casefold)
    return found


def replace_tags(conn: sa.Connection, project: Project, segment_id: int, tags: list[str]) -> bool:
    """Give the segment exactly these tags (in the project's spelling of each, where it has
    one); whether anything changed."""
    spellings = project_spellings(conn, project)
    wanted = {spellings.get(tag.casefold(), tag) for tag in tags}
    current = set(tags_of(conn, project, [segment_id])[segment_id])
    if wanted == current:
        return False
    scoped = (segment_tags.c.project_id == project.id, segment_tags.c.segment_id == segment_id)
    if current - wanted:
        conn.execute(segment_tags.delete().where(*scoped, segment_tags.c.tag.in_(current - wanted)))
    if wanted - current:
        rows = [
            {"project_id": project.id, "segment_id": segment_id, "tag": tag}
            for tag in sorted(wanted - current)
        ]
        conn.execute(segment_tags.insert(), rows)
    return True


def tagged_condition(
    conn: sa.Connection, project: Project, tags: list[str]
) -> sa.ColumnElement[bool] | None:
    """Segments carrying every one of these tags (compared ignoring case); None for no tags."""
    if not tags:
        return None
    spellings = project_spellings(conn, project)
    conditions = []
    for tag in tags:
        spelling = spellings.get(" ".join(tag.split()).casefold())
        if spelling is None:
            return sa.false()  # a tag nobody uses: no segment carries it
        carrying = sa.select(segment_tags.c.segment_id).where(
            segment_tags.c.project_id == project.id, segment_tags.c.tag == spelling
        )
        conditions.append(segments.c.id.in_(carrying))
    return sa.and_(*conditions)
