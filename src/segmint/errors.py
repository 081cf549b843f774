"""Errors the engine raises; the API and the CLI turn them into responses and messages."""

from __future__ import annotations


class SegmintError(Exception):
    code = "error"

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


class InvalidInput(SegmintError):
    """Bad input from a user; `path` names where (a JSON path, a CSV column)."""

    code = "invalid"


class NotFound(SegmintError):
    code = "not_found"


class Conflict(SegmintError):
    code = "conflict"


class Unauthorized(SegmintError):
    code = "unauthorized"


class Forbidden(SegmintError):
    code = "forbidden"
