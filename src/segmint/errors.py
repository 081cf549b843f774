"""Errors the engine raises; the API and the CLI turn them into responses and messages."""

from __future__ import annotations

from collections.abc import Sequence


class SegmintError(Exception):
    code = "error"

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


class InvalidInput(SegmintError):
    """Bad input from a user; `path` names where (a JSON path, a CSV column). One naming
    several bad values keeps each in `problems`, so a caller can show them where they are."""

    code = "invalid"

    def __init__(
        self, message: str, path: str | None = None, problems: Sequence[InvalidInput] = ()
    ) -> None:
        super().__init__(message, path)
        self.problems = tuple(problems)


class NotFound(SegmintError):
    code = "not_found"


class Conflict(SegmintError):
    code = "conflict"


class Unauthorized(SegmintError):
    code = "unauthorized"


class Forbidden(SegmintError):
    code = "forbidden"
