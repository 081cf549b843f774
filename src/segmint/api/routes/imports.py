"""CSV import over HTTP: the columns a file's header maps to, then the import itself, streamed
back as progress lines (NDJSON) so a page can show a live status without a job table.

The upload is spooled to a temporary file and read by the same code as `segmint import leads`
(line numbers, encodings, header aliases); batches are committed as they go, so good rows are
kept whatever happens to later ones.
"""

from __future__ import annotations

import csv
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
from segmint.api.schemas.leads import ColumnGuess, ImportColumns
from segmint.errors import InvalidInput
from segmint.ingest import import_leads_csv
from segmint.ingest.batches import ImportReport, RowError
from segmint.ingest.csv_source import map_columns
from segmint.ingest.leads import OnConflict
from segmint.model import LEAD_WRITABLE
from segmint.projects import Project

log = logging.getLogger(__name__)
router = APIRouter(prefix="/projects/{project}/leads/import", tags=["leads"])

HEADER_BYTES = 64 * 1024  # enough of a file to read its header line
PROGRESS_EVERY = 0.25  # seconds between progress lines
IGNORE = "-"


def _targets(project: Project) -> list[str]:
    fields = [name for name in LEAD_WRITABLE if name != "account_id"]
    return ["name", *fields, *(f"custom.{key}" for key in project.custom_fields)]


@router.post("/columns", response_model=ImportColumns, summary="Guess what each CSV column is")
async def import_columns(
    project: ProjectDep, _principal: PrincipalDep, file: Annotated[UploadFile, File()]
) -> ImportColumns:
    head = (await file.read(HEADER_BYTES)).decode("utf-8-sig", errors="replace")
    first_line = head.splitlines()[0] if head.strip() else ""
    names = [name.strip() for name in next(csv.reader([first_line]), [])]
    if not names:
        raise InvalidInput("the file is empty: expected a header line", "line 1")
    # Columns that would map to a field already taken are offered as "ignore".
    taken: set[str] = set()
    guesses = []
    for name in names:
        target = map_columns([name], project, {}).targets[0]
        if target in taken:
            target = None
        if target:
            taken.add(target)
        guesses.append(ColumnGuess(name=name, target=target))
    return ImportColumns(columns=guesses, targets=_targets(project))


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
                engine, project, path, overrides, on_conflict, clock, on_progress=advance
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
