"""Coercion of user-supplied values (CSV cells, JSON from the API) into lead column values.

Each function raises InvalidInput naming the field, so a caller can prefix the row's location.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any, NoReturn

from segmint.clock import as_utc
from segmint.errors import InvalidInput
from segmint.model import LEAD_WRITABLE, PHONE_TYPES, TAG_MAX, TEXT_MAX, FieldKind
from segmint.projects import CustomField, Project
from segmint.storable import check_storable

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TRUE_WORDS = {"true", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "n", "0", "f"}
ID_MAX = 2**63 - 1  # ids are 64-bit; a larger number is no id (and SQLite cannot bind it)

ColumnValue = str | float | datetime | list[str] | None  # a lead column's value (ids are ints)
CustomValue = str | float | bool | None  # a custom field's value (a date as ISO text)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_text(value: Any, field: str, limit: int = TEXT_MAX) -> str | None:
    if is_blank(value):
        return None
    if isinstance(value, (dict, list, bool)):
        raise InvalidInput("expected text", field)
    text = str(value).strip()
    if len(text) > limit:
        raise InvalidInput(f"longer than {limit} characters", field)
    return text


def parse_email(value: Any, field: str = "email") -> str | None:
    text = parse_text(value, field, 320)
    if text is None:
        return None
    if not EMAIL.fullmatch(text):
        raise InvalidInput(f"{text!r} is not an email address", field)
    return text.lower()


def parse_number(value: Any, field: str) -> float | None:
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise InvalidInput("expected a number", field)
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        try:
            number = float(str(value).strip().replace(",", ""))
        except ValueError:
            raise InvalidInput(f"expected a number, got {value!r}", field) from None
    if not math.isfinite(number):
        raise InvalidInput("expected a finite number", field)
    return number


def parse_datetime(value: Any, field: str) -> datetime | None:
    """ISO 8601 dates and datetimes; a date means midnight UTC, a naive time means UTC."""
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    text = str(value).strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidInput(
            f"expected an ISO date or datetime (2024-05-01 or 2024-05-01T09:30:00Z), got {text!r}",
            field,
        ) from None


def parse_boolean(value: Any, field: str) -> bool | None:
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InvalidInput(f"expected true or false, got {value!r}", field)


def parse_tags(value: Any, field: str = "tags") -> list[str]:
    """A list, or text separated by commas or semicolons; trimmed, de-duplicated, in order."""
    if is_blank(value):
        return []
    if isinstance(value, str):
        items: list[Any] = re.split(r"[;,]", value)
    elif isinstance(value, list):
        items = value
    else:
        raise InvalidInput("expected a list of text or comma-separated text", field)
    tags: dict[str, None] = {}
    for index, item in enumerate(items):
        if isinstance(item, (dict, list)):
            raise InvalidInput("expected text", f"{field}[{index}]")
        tag = parse_text(item, f"{field}[{index}]", TAG_MAX)
        if tag:
            tags[tag] = None
    return list(tags)


def parse_choice(value: Any, field: str, choices: tuple[str, ...]) -> str | None:
    text = parse_text(value, field)
    if text is None:
        return None
    for choice in choices:
        if choice.lower() == text.lower():
            return choice
    raise InvalidInput(f"{text!r} is not one of {', '.join(choices)}", field)


def parse_json_object(value: Any, field: str) -> dict[str, Any] | None:
    """An object, or text holding a JSON object (a CSV cell)."""
    if is_blank(value):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"not valid JSON ({exc.msg})", field) from None
    if not isinstance(value, dict):
        raise InvalidInput("expected a JSON object", field)
    check_finite(value, field)
    check_storable(value, field)  # a CSV cell's JSON may spell out \u0000 or \ud800
    return value


def parse_json_scalar(value: Any, field: str) -> Any:
    """A CSV cell headed for untyped JSON: numbers, booleans and arrays keep their JSON type.

    `NaN` and `Infinity` are not JSON numbers: such a cell stays text.
    """
    if not isinstance(value, str):
        check_finite(value, field)
        return value
    text = value.strip()
    try:
        parsed = json.loads(text, parse_constant=_not_json)
    except ValueError:
        return text
    check_storable(parsed, field)
    return parsed


def _not_json(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def check_finite(value: Any, field: str) -> None:
    """Refuse NaN and infinities anywhere in a JSON value.

    Python's json accepts them, but they are not JSON: PostgreSQL rejects them and SQLite would
    store text its JSON functions cannot read, so the backends would disagree.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput("expected a finite number", field)
    if isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, f"{field}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_finite(item, f"{field}[{index}]")


def parse_custom(value: Any, definition: CustomField, field: str) -> CustomValue:
    if definition.type == "number":
        return parse_number(value, field)
    if definition.type == "boolean":
        return parse_boolean(value, field)
    if definition.type == "date":
        parsed = parse_datetime(value, field)
        return parsed.date().isoformat() if parsed else None
    if definition.type == "select":
        return parse_choice(value, field, definition.options)
    return parse_text(value, field)


def parse_column(name: str, value: Any, project: Project) -> ColumnValue:
    """One standard lead column."""
    kind = LEAD_WRITABLE[name]
    if name == "status":
        return parse_choice(value, name, project.statuses)
    if name == "phone_type":
        return parse_choice(value, name, PHONE_TYPES)
    if name == "account_id":
        number = parse_number(value, name)
        if number is not None and not (number.is_integer() and 1 <= number <= ID_MAX):
            raise InvalidInput("expected an account id", name)
        return int(number) if number is not None else None
    parsers: dict[FieldKind, Callable[[Any, str], ColumnValue]] = {
        FieldKind.EMAIL: parse_email,
        FieldKind.NUMBER: parse_number,
        FieldKind.DATETIME: parse_datetime,
        FieldKind.TAGS: parse_tags,
    }
    parser = parsers.get(kind)
    return parser(value, name) if parser else parse_text(value, name)


def set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` in a nested dict, creating objects on the way."""
    *parents, leaf = dotted.split(".")
    node = target
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[leaf] = value


def split_name(full: str) -> tuple[str, str | None]:
    first, _, last = full.strip().partition(" ")
    return first, (last.strip() or None)
