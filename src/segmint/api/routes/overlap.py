"""Overlap: the count of every region where two to four segments and lists intersect."""

from __future__ import annotations

from fastapi import APIRouter, Response

from segmint.api.deps import ClockDep, ConnectionDep, PrincipalDep, ProjectDep
from segmint.api.schemas.overlap import OverlapIn, OverlapResult
from segmint.engine import overlap as engine
from segmint.engine.answering import ENGINE_HEADER

router = APIRouter(prefix="/projects/{project}/overlap", tags=["overlap"])


@router.post(
    "",
    response_model=OverlapResult,
    summary="Count each region where 2 to 4 segments and lists overlap",
)
def overlap(
    body: OverlapIn,
    conn: ConnectionDep,
    project: ProjectDep,
    principal: PrincipalDep,
    clock: ClockDep,
    response: Response,
) -> OverlapResult:
    sets = engine.resolve(conn, project, principal, body.segments, body.lists)
    result = engine.overlap(conn, project, sets, clock.now())
    response.headers[ENGINE_HEADER] = result.engine
    return OverlapResult.model_validate(
        {
            "sets": result.sets,
            "regions": result.regions,
            "pairs": result.pairs,
            "union": result.union,
        }
    )
