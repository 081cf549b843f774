"""The API's error answers: every failure is `{"error": {"code", "message", "path"?}}` with the
status that says whose fault it was (422 input, 404/403/401 access, 409 conflict, 503 the
database)."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from segmint.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    SegmintError,
    Unauthorized,
)
from segmint.store.timeouts import timed_out

log = logging.getLogger("segmint.api")

STATUS_BY_ERROR: dict[type[SegmintError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
}
BUSY_RETRY_AFTER = 2  # seconds: a pool queue drains in about a request's time
CODE_BY_STATUS = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "not_allowed"}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every engine, validation, HTTP and database failure in the one error shape."""
    app.add_exception_handler(SegmintError, _segmint_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(sa.exc.OperationalError, _database_error)  # type: ignore[arg-type]
    app.add_exception_handler(sa.exc.TimeoutError, _pool_exhausted)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(sa.exc.DataError, _out_of_range)
    app.add_exception_handler(sa.exc.IntegrityError, _integrity)  # type: ignore[arg-type]


def _error(
    status: int,
    code: str,
    message: str,
    path: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if path:
        body["path"] = path
    if errors:
        body["errors"] = errors
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


async def _segmint_error(_request: Request, exc: SegmintError) -> JSONResponse:
    """Every engine error becomes {"error": {"code", "message", "path"?, "errors"?}}."""
    problems = getattr(exc, "problems", ())
    errors = [_problem(p.path, p.message) for p in problems]
    return _error(
        STATUS_BY_ERROR.get(type(exc), 400), exc.code, exc.message, exc.path, None, errors
    )


def _problem(path: str | None, message: str) -> dict[str, str]:
    return {"path": path, "message": message} if path else {"message": message}


def json_path(location: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'leads', 3, 'email') -> 'leads[3].email'; query and path keep their name."""
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """The first problem is the message; with several, `errors` lists each (a form shows them
    beside their fields)."""
    found = [(json_path(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in exc.errors()]
    path, message = found[0]
    errors = [_problem(p, m) for p, m in found] if len(found) > 1 else None
    return _error(422, "invalid", f"{path}: {message}", path, None, errors)


async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    """A number the database cannot hold (an id past 64 bits): the input's fault, not ours.
    Logged, so a bug that raises the same error is still seen."""
    log.info("%s %s: out of range: %s", request.method, request.url.path, exc)
    return _error(422, "invalid", "a number in the request is out of range")


async def _integrity(request: Request, exc: sa.exc.IntegrityError) -> JSONResponse:
    """A write another one raced (a duplicate key, a row deleted meanwhile): the engine checks
    these up front, so this is the last line, and a conflict rather than a crash. Logged as a
    warning: one that is not a race is a missing check."""
    log.warning("%s %s: integrity error: %s", request.method, request.url.path, exc.orig)
    return _error(409, "conflict", "the write conflicts with the current data: retry")


async def _database_error(request: Request, exc: sa.exc.OperationalError) -> JSONResponse:
    """A statement cancelled by the timeout says so; a database that is down says that."""
    if timed_out(exc):
        seconds = request.app.state.limits.statement_timeout
        message = (
            f"the query ran longer than {seconds:g} s and was cancelled: narrow the filter, "
            "or export the segment instead"
        )
        return _error(503, "timeout", message)
    return _error(503, "unavailable", "the database is unavailable: retry in a moment")


async def _pool_exhausted(request: Request, exc: Exception) -> JSONResponse:
    """Every connection of the pool stayed in use for its whole timeout: the server is busy,
    not broken. Logged as a warning: seen often, the pool is too small for the traffic."""
    log.warning("%s %s: no database connection free: %s", request.method, request.url.path, exc)
    return _error(
        503,
        "busy",
        f"the server is busy (no database connection came free): retry in {BUSY_RETRY_AFTER} s",
        headers={"Retry-After": str(BUSY_RETRY_AFTER)},
    )


async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    code = CODE_BY_STATUS.get(exc.status_code, "error")
    return _error(exc.status_code, code, str(exc.detail))
