"""Text both databases can store, checked once for every kind of input.

JSON allows a lone UTF-16 surrogate (`"\\ud800"`) and NUL (`"\\u0000"`), and Python's json reads
both, but neither can be stored: a surrogate is no UTF-8 (the driver fails to encode it, and the
request would crash), and PostgreSQL's text and jsonb refuse NUL while SQLite keeps it (the
backends would disagree).
"""

from __future__ import annotations

import json
from typing import Any

from segmint.errors import InvalidInput


def is_storable(text: str) -> bool:
    """Valid UTF-8 (no lone surrogates) and no NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def problem(text: str) -> str:
    """Why `text` cannot be stored, in words a user can act on."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    return "contains a lone UTF-16 surrogate (like \\ud800), which is not valid Unicode text"


def check_storable(value: Any, path: str = "") -> None:
    """Refuse unstorable text anywhere in a JSON value, object keys included.

    The error's path names the string (`enrichment.company.name`, `tags[1]`); a bad key is
    written escaped, so the error itself stays storable and printable.
    """
    if isinstance(value, str):
        if not is_storable(value):
            raise InvalidInput(problem(value), path or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            key_path = _join(path, key)
            if isinstance(key, str) and not is_storable(key):
                raise InvalidInput(f"the key {problem(key)}", key_path)
            check_storable(item, key_path)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_storable(item, f"{path}[{index}]")


def _join(path: str, key: Any) -> str:
    text = str(key)
    if not is_storable(text):
        text = json.dumps(text)[1:-1]  # \ud800 and \u0000 spelled out as escapes
    return f"{path}.{text}" if path else text
