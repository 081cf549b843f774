"""CSV import over HTTP: the columns a file's header maps to, then the import itself, streamed
back as progress lines (NDJSON) so a page can show a live status without a job table.

The check reads the first 64 KB with the same row reader, guesses and target rules as the import
(ingest/csv_source.py), so what the page shows before Import is what the import will report.
The upload is spooled to a temporary file and read by the same code as `segmint import leads`
(line numbers, encodings, header aliases); batches are committed as they go, so good rows are
kept whatever happens to later ones.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import StreamingResponse

from segmint.api.deps import ClockDep, EngineDep, PrincipalDep, ProjectDep
from segmint.api.schemas.leads import (
    ColumnGuess,
    ImportColumns,
    ImportProblem,
    ImportTargetOption,
)
from segmint.errors import InvalidInput
from segmint.ingest import import_leads_csv
from segmint.ingest.batches import ImportReport, RowError
from segmint.ingest.csv_rows import SAMPLE_BYTES, Encoding
from segmint.ingest.csv_source import import_targets, preview_csv
from segmint.ingest.leads import OnConflict

log = logging.getLogger(__name__)
router = APIRouter(prefix="/projects/{project}/leads/import", tags=["leads"])

PROGRESS_EVERY = 0.25  # seconds between progress lines
IGNORE = "-"


@router.post(
    "/columns",
    response_model=ImportColumns,
    summary="Check a CSV file's first 64 KB: the field each column feeds, samples, problems",
)
async def import_columns(
    project: ProjectDep,
    _principal: PrincipalDep,
    file: Annotated[UploadFile, File(description="the file, or its first 64 KB")],
    mapping: Annotated[str, Form(description='{"CSV column": "field" or "-"} as JSON')] = "{}",
    encoding: Annotated[Encoding, Form()] = "utf-8",
    partial: Annotated[
        bool, Form(description="true when `file` is the start of a longer file")
    ] = False,
) -> ImportColumns:
    data = await file.read(SAMPLE_BYTES + 1)
    complete = len(data) <= SAMPLE_BYTES and not partial
    preview = preview_csv(data[:SAMPLE_BYTES], project, _overrides(mapping), encoding, complete)
    options = import_targets(project)
    return ImportColumns(
        columns=[
            ColumnGuess(name=c.name, target=c.target, samples=c.samples) for c in preview.columns
        ],
        targets=[option.value for option in options],
        target_options=[
            ImportTargetOption(value=o.value, label=o.label, group=o.group) for o in options
        ],
        problems=[
            ImportProblem(line=p.line, level=p.level, message=p.message) for p in preview.problems
        ],
        encoding=encoding,
    )


@router.post(
    "",
    summary="Import leads from CSV; answers with progress lines (NDJSON), then a summary",
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def import_csv(
    engine: EngineDep,
    project: ProjectDep,
    _principal: PrincipalDep,
    clock: ClockDep,
    file: Annotated[UploadFile, File()],
    mapping: Annotated[str, Form(description='{"CSV column": "field" or "-"} as JSON')] = "{}",
    on_conflict: Annotated[OnConflict, Form()] = "update",
    encoding: Annotated[Encoding, Form()] = "utf-8",
) -> StreamingResponse:
    overrides = _overrides(mapping)
    spooled = tempfile.NamedTemporaryFile(prefix="segmint-import-", suffix=".csv", delete=False)  # noqa: SIM115 - removed by the stream
    with spooled:
        shutil.copyfileobj(file.file, spooled)
    path = Path(spooled.name)
    total = path.stat().st_size

    def run(progress: queue.Queue[dict[str, Any]]) -> None:
        read = 0

        def advance(count: int) -> None:
            nonlocal read
            read += count
            progress.put({"read_bytes": read})

        try:
            report = import_leads_csv(
                engine,
                project,
                path,
                overrides,
                on_conflict,
                clock,
                on_progress=advance,
                encoding=encoding,
                mapping_option="mapping",
            )
            progress.put({"done": True, **_summary(report)})
        except InvalidInput as error:
            progress.put({"done": True, "error": error.message, "path": error.path})
        except Exception:  # the stream must end whatever happened; the rows so far are kept
            log.exception("CSV import failed")
            progress.put({"done": True, "error": "the import stopped on a server error"})
        finally:
            path.unlink(missing_ok=True)

    return StreamingResponse(_stream(run, total), media_type="application/x-ndjson")


def _overrides(mapping: str) -> dict[str, str]:
    try:
        data = json.loads(mapping)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"not JSON: {error.msg}", "mapping") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise InvalidInput('expected {"column": "field"}', "mapping")
    return {column: (target or IGNORE) for column, target in data.items()}


def _summary(report: ImportReport) -> dict[str, Any]:
    errors: list[RowError] = report.errors
    return {
        "created": report.counts.created,
        "updated": report.counts.updated,
        "skipped": report.counts.skipped,
        "failed": report.failed,
        "errors": [{"line": e.location, "message": e.message} for e in errors],
        "ignored_columns": report.ignored_columns,
        "warnings": report.warnings,
    }


def _stream(run: Any, total: int) -> Iterator[bytes]:
    """Runs the import in a thread; yields a progress line at most every PROGRESS_EVERY."""
    progress: queue.Queue[dict[str, Any]] = queue.Queue()
    worker = threading.Thread(target=run, args=(progress,), name="segmint-import", daemon=True)
    worker.start()
    yield _line({"read_bytes": 0, "total_bytes": total})
    last_sent = 0.0
    while True:
        item = progress.get()
        if item.get("done"):
            yield _line({"read_bytes": total, "total_bytes": total, **item})
            return
        if time.monotonic() - last_sent >= PROGRESS_EVERY:
            last_sent = time.monotonic()
            yield _line({**item, "total_bytes": total})


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data) + "\n").encode()
