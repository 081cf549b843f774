"""The filter language as a service: the builder's vocabulary, and the text syntax both ways."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import Connection

from segmint.api.deps import ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.filters import FilterIn, ParsedFilter, TextIn
from segmint.engine import filtering
from segmint.engine.vocabulary import vocabulary
from segmint.filters import to_json, to_text
from segmint.filters.tree import Node
from segmint.projects import Project

router = APIRouter(prefix="/projects/{project}/filters", tags=["filters"])


@router.get("/vocabulary", summary="Fields, operators, event types, segments and lists")
def get_vocabulary(
    conn: ConnectionDep, project: ProjectDep, _principal: PrincipalDep
) -> dict[str, Any]:
    return vocabulary(conn, project)


@router.post("/text", response_model=ParsedFilter, summary="Validate a filter; print it as text")
def filter_to_text(
    body: FilterIn, conn: ConnectionDep, project: ProjectDep, principal: PrincipalDep
) -> ParsedFilter:
    tree = filtering.validate(conn, project, body.filter, reader=principal)
    return _parsed(conn, project, tree)


@router.post("/parse", response_model=ParsedFilter, summary="Parse the text syntax into a filter")
def text_to_filter(
    body: TextIn, conn: ConnectionDep, project: ProjectDep, principal: PrincipalDep
) -> ParsedFilter:
    tree = filtering.parse_text(conn, project, body.text, reader=principal)
    return _parsed(conn, project, tree)


def _parsed(conn: Connection, project: Project, tree: Node) -> ParsedFilter:
    words = filtering.describe(conn, project, tree)
    return ParsedFilter(filter=to_json(tree), text=to_text(tree), words=words)
