"""CSV exports: which columns an export of a segment or a list may hold (the exports themselves
are the segments' and lists' `export.csv`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from segmint.api.deps import PrincipalDep, ProjectDep
from segmint.api.schemas.exports import ExportColumnChoice, ExportColumnChoices
from segmint.engine.answering import ENGINE_HEADER
from segmint.engine.export import EXPORT_COLUMNS

router = APIRouter(prefix="/projects/{project}/exports", tags=["exports"])

ColumnsQuery = Annotated[
    str | None,
    Query(
        description="Column keys separated by commas, in the order wanted (see "
        "`GET /exports/columns`); default: name,email,phone,company,job_title,source,status.",
        examples=["name,email,created_at,tags"],
    ),
]


@router.get(
    "/columns", response_model=ExportColumnChoices, summary="The columns an export may hold"
)
def export_columns(_project: ProjectDep, _principal: PrincipalDep) -> ExportColumnChoices:
    return ExportColumnChoices(
        items=[
            ExportColumnChoice(key=column.key, header=column.header, default=column.default)
            for column in EXPORT_COLUMNS
        ]
    )


def csv_download(chunks: Iterator[bytes], filename: str, answered_by: str) -> StreamingResponse:
    """An export's streamed answer: a file to save, saying who answered."""
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            ENGINE_HEADER: answered_by,
        },
    )
