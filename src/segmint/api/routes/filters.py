"""The filter language as a service: the builder's vocabulary, and the text syntax both ways."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import Connection

from segmint.api.deps import ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.filters import FilterIn, ParsedFilter, TextIn
from segmint.engine import filtering, seen
from segmint.engine.vocabulary import vocabulary
from segmint.errors import InvalidInput
from segmint.filters import to_json, to_text
from segmint.filters.tree import Node
from segmint.projects import Project

router = APIRouter(prefix="/projects/{project}/filters", tags=["filters"])


@router.get("/vocabulary", summary="Fields, operators, event types, segments and lists")
def get_vocabulary(
    conn: ConnectionDep, project: ProjectDep, _principal: PrincipalDep
) -> dict[str, Any]:
    return vocabulary(conn, project)


@router.get("/values", summary="A field's commonest values, with how many leads hold each")
def get_values(
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    field: Annotated[str, Query(description="A field, e.g. status, tags, enrichment.x.y.")],
    q: Annotated[str | None, Query(description="Keep the values that contain this.")] = None,
    event: Annotated[
        str | None, Query(description="An event type: `field` is a path in its metadata.")
    ] = None,
) -> dict[str, Any]:
    return {"items": seen.field_values(conn, project, field, q, event)}


@router.get("/event-types", summary="Event types, with how many leads did each")
def get_event_types(
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    q: Annotated[str | None, Query(description="Keep the types that contain this.")] = None,
) -> dict[str, Any]:
    return {"items": seen.event_types(conn, project, q)}


@router.get("/paths", summary="JSON paths found in the data, commonest first")
def get_paths(
    conn: ConnectionDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    root: Annotated[
        Literal["enrichment", "account.metadata", "metadata"],
        Query(description="Where to look; `metadata` is an event type's (give `event`)."),
    ],
    event: Annotated[str | None, Query(description="The event type, for `metadata`.")] = None,
) -> dict[str, Any]:
    if root == "metadata" and event is None:
        raise InvalidInput("give the event type whose metadata to read", "event")
    return {"items": seen.json_paths(conn, project, root, event)}


AudienceQuery = Annotated[
    Literal["leads", "accounts"],
    Query(description="Whose filter: a lead segment's (default) or an account segment's."),
]


@router.post("/text", response_model=ParsedFilter, summary="Validate a filter; print it as text")
def filter_to_text(
    body: FilterIn,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    audience: AudienceQuery = "leads",
) -> ParsedFilter:
    tree = filtering.validate(conn, project, body.filter, reader=principal, audience=audience)
    return _parsed(conn, project, tree, audience)


@router.post("/parse", response_model=ParsedFilter, summary="Parse the text syntax into a filter")
def text_to_filter(
    body: TextIn,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    audience: AudienceQuery = "leads",
) -> ParsedFilter:
    tree = filtering.parse_text(conn, project, body.text, reader=principal, audience=audience)
    return _parsed(conn, project, tree, audience)


def _parsed(
    conn: Connection, project: Project, tree: Node, audience: str = "leads"
) -> ParsedFilter:
    words = filtering.describe(conn, project, tree, audience)
    return ParsedFilter(filter=to_json(tree), text=to_text(tree), words=words)
