"""The error body every route may answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorProblem(BaseModel):
    path: str | None = None
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    path: str | None = None
    errors: list[ErrorProblem] | None = Field(
        None, description="With several bad values in one request (422): each with its path."
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


# Every API route can answer these (documented so clients and schema checks expect them).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Bad request",
        401: "No valid token or session",
        403: "The role forbids it",
        404: "Not found (or another organization's)",
        409: "Conflicts with the current state",
        413: "Request body too large",
        422: "Invalid input; `path` names the bad value (`errors` each, when several)",
        429: "Too many requests; see Retry-After",
        503: "The database is unavailable, or the statement ran past its timeout",
    }.items()
}
